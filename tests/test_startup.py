"""A server that cannot start shows one short page that names what to fix, to every visitor; never a traceback."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from akari.studio import Studio
from tests.ui_fixtures import app, reset_streamlit


@pytest.fixture(autouse=True)
def fresh_streamlit(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Studio]]:
    yield from reset_streamlit(monkeypatch)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("variable", "value", "sentence"),
    [
        ("AKARI_GENERATOR", "dall-e", "AKARI_GENERATOR must be one of"),
        ("AKARI_READ_TIMEOUT", "nan", "AKARI_READ_TIMEOUT must be a number of seconds"),
        ("CLOUDINARY_URL", "cloudinary://broken", "CLOUDINARY_URL must look like"),
        ("AKARI_DATABASE_URL", "postgresql+psycopg://akari:hunter2@127.0.0.1:{port}/akari",
         "The studio's database cannot be reached right now"),
        ("AKARI_COOKIE_KEY", "some_key" * 4, "print(secrets.token_urlsafe(48))"),
    ],
    ids=["bad-choice", "not-a-number", "malformed-cloudinary", "database-down", "weak-cookie-key"],
)
@pytest.mark.parametrize("page", ["app.py", "pages/gallery.py"])
def test_a_start_up_failure_is_a_short_page_naming_what_to_fix(monkeypatch: pytest.MonkeyPatch, variable: str,
                                                               value: str, sentence: str, page: str) -> None:
    monkeypatch.setenv(variable, value.format(port=_closed_port()))
    at = app(page).run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Akari cannot start"]
    assert sentence in at.error[0].value.replace("\\", "")
    shown = " ".join(e.value for e in (*at.error, *at.caption, *at.markdown))
    assert "hunter2" not in shown and "127.0.0.1" not in shown and "Traceback" not in shown
    assert "some_key" not in shown
    assert not at.text_input  # no sign-in form, nothing else
