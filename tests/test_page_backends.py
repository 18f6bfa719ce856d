"""Server details are for administrators; a failing generator, store or database reads as a sentence on the page."""

from __future__ import annotations

import re

import pytest

from akari.accounts import Accounts
from akari.errors import StoreError
from akari.studio import Studio
from tests.gallery_data import Viewer, add_generation
from tests.ui_fixtures import accounts, add_user, app, fresh_streamlit, seed_session  # noqa: F401  (fixtures)

SERVER_DETAILS = ("CLOUDFLARE_ID", "Database:", "Storage:", "akari.db", "/tmp/", "Local disk")


def _page(username: str, script: str = "pages/generate.py"):
    at = app(script)
    seed_session(at, username)
    return at.run()


def _everything(at) -> str:
    """Every text the page shows, wherever it is."""
    parts = [e.value for kind in ("caption", "markdown", "info", "warning", "error", "text", "success")
             for e in getattr(at, kind)]
    parts += [e.value for kind in ("caption", "markdown", "info", "text") for e in getattr(at.sidebar, kind)]
    return re.sub(r"\\(.)", r"\1", "\n".join(str(p) for p in parts))


def test_a_member_sees_what_makes_the_images_and_no_server_details(accounts: Accounts) -> None:  # noqa: F811
    add_user(accounts, "bea")
    at = _page("bea")
    shown = _everything(at)
    assert "Offline sketches, not AI" in shown
    for detail in SERVER_DETAILS:
        assert detail not in shown, detail


def test_an_administrator_sees_the_backends_paths_and_what_to_set(accounts: Accounts) -> None:  # noqa: F811
    add_user(accounts, "root", admin=True)
    shown = _everything(_page("root"))
    assert "CLOUDFLARE_ID" in shown and "Database: SQLite" in shown and "Storage: Local disk" in shown


def test_a_failing_store_shows_a_sentence_where_the_image_would_be(accounts: Accounts,  # noqa: F811
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    ada = add_user(accounts, "ada")
    studio = Studio.open()
    made = add_generation(studio, Viewer(ada.id), "a stored lighthouse", stored=True)
    studio.close()

    def failing(*_args: object, **_kwargs: object) -> str:
        raise StoreError("The image store is unavailable.", detail="HTTP 503 from /var/lib/secret/path")

    from akari.images import Images

    monkeypatch.setattr(Images, "url", failing)
    monkeypatch.setattr(Images, "read", failing)
    at = _page("ada", "pages/gallery.py")
    assert not at.exception
    assert "This image cannot be shown right now" in _everything(at)
    at.query_params["id"] = str(made)
    at.run()
    assert not at.exception and "/var/lib" not in _everything(at)


def test_a_database_that_cannot_be_reached_is_a_sentence_on_every_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AKARI_DATABASE_URL", "postgresql+psycopg://akari@127.0.0.1:1/akari?connect_timeout=1")
    for script in ("app.py", "pages/generate.py", "pages/gallery.py", "pages/usage.py", "pages/admin.py"):
        at = app(script).run()
        assert not at.exception, script
        assert at.title[0].value == "Akari cannot start", script
        assert "database" in _everything(at).lower(), script
