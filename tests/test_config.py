"""Settings: explicit values beat the environment, `auto` picks real services only when credentials exist."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from akari.config import load_settings
from akari.errors import ConfigError


def test_fresh_machine_defaults_to_offline_local_sqlite_under_data() -> None:
    settings = load_settings(env={})
    assert settings.generator == "offline"
    assert settings.store == "local"
    assert settings.data_dir == Path("data")
    assert settings.database_url == "sqlite:///data/akari.db"


def test_auto_picks_cloudflare_and_cloudinary_when_credentials_are_set() -> None:
    env = {"CLOUDFLARE_ID": "acc", "CLOUDFLARE_API_KEY": "tok", "CLOUDINARY_URL": "cloudinary://k:s@cloud"}
    settings = load_settings(env=env)
    assert (settings.generator, settings.store) == ("cloudflare", "cloudinary")
    assert settings.cloudinary is not None and settings.cloudinary.cloud_name == "cloud"


def test_keyword_arguments_override_the_environment() -> None:
    settings = load_settings(env={"AKARI_DATA_DIR": "/env"}, akari_data_dir="/kw")
    assert settings.data_dir == Path("/kw")


def test_cloudinary_variables_take_precedence_over_the_url_like_the_sdk() -> None:
    env = {
        "CLOUDINARY_URL": "cloudinary://k:s@from-url",
        "CLOUDINARY_CLOUD_NAME": "from-vars",
        "CLOUDINARY_API_KEY": "k2",
        "CLOUDINARY_API_SECRET": "s2",
    }
    assert load_settings(env=env).cloudinary.cloud_name == "from-vars"  # type: ignore[union-attr]


def test_upload_prefix_in_the_url_is_kept_for_a_local_server() -> None:
    settings = load_settings(env={"CLOUDINARY_URL": "cloudinary://k:s@c?upload_prefix=http://127.0.0.1:9"})
    assert settings.cloudinary.upload_prefix == "http://127.0.0.1:9"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"AKARI_GENERATOR": "cloudflare"}, ["CLOUDFLARE_ID", "CLOUDFLARE_API_KEY"]),
        ({"AKARI_GENERATOR": "cloudflare", "CLOUDFLARE_ID": "a"}, ["CLOUDFLARE_API_KEY"]),
        ({"AKARI_STORE": "cloudinary"}, ["CLOUDINARY_URL"]),
        ({"CLOUDINARY_CLOUD_NAME": "c"}, ["CLOUDINARY_API_KEY", "CLOUDINARY_API_SECRET"]),
        ({"CLOUDINARY_URL": "https://wrong"}, ["CLOUDINARY_URL"]),
        ({"AKARI_GENERATOR": "dalle"}, ["AKARI_GENERATOR"]),
        ({"AKARI_STORE": "s3"}, ["AKARI_STORE"]),
        ({"AKARI_DATABASE_URL": "akari.db"}, ["AKARI_DATABASE_URL"]),
        ({"AKARI_READ_TIMEOUT": "soon"}, ["AKARI_READ_TIMEOUT"]),
        ({"AKARI_DAILY_QUOTA": "-1"}, ["AKARI_DAILY_QUOTA"]),
        ({"CLOUDFLARE_API_BASE": "ftp://x"}, ["CLOUDFLARE_API_BASE"]),
    ],
)
def test_a_misconfiguration_names_the_variable_to_set(env: dict[str, str], names: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env)
    for name in names:
        assert name in caught.value.message


def test_secrets_never_appear_in_the_settings_repr() -> None:
    env = {"CLOUDFLARE_ID": "acc", "CLOUDFLARE_API_KEY": "tok-secret-123",
           "CLOUDINARY_URL": "cloudinary://k:cl-secret-456@cloud", "AKARI_COOKIE_KEY": "cookie-secret-789"}
    text = repr(load_settings(env=env))
    for secret in ("tok-secret-123", "cl-secret-456", "cookie-secret-789"):
        assert secret not in text


def test_the_backends_are_described_in_words() -> None:
    settings = load_settings(env={})
    assert "Offline" in settings.generator_label
    assert "Local disk" in settings.store_label
    assert settings.database_label.startswith("SQLite")


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "NaN"])
def test_a_number_setting_refuses_nan_and_infinity(raw: str) -> None:
    with pytest.raises(ConfigError, match="AKARI_READ_TIMEOUT"):
        load_settings(env={"AKARI_READ_TIMEOUT": raw})


def test_the_database_password_never_appears_in_the_settings_repr() -> None:
    settings = load_settings(env={"AKARI_DATABASE_URL": "postgresql+psycopg://akari:db-pass-321@db.example/akari"})
    assert "db-pass-321" not in repr(settings)
    assert "akari:***@db.example" in repr(settings)


def _streamlit_copies_secrets_into_the_environment(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # What Streamlit does when its server starts: root-level keys of secrets.toml go into os.environ, over real ones.
    from streamlit import config as streamlit_config
    from streamlit.runtime.secrets import Secrets

    before = streamlit_config.get_option("secrets.files")
    streamlit_config.set_option("secrets.files", [str(path)])
    try:
        assert Secrets().load_if_toml_exists()
    finally:
        streamlit_config.set_option("secrets.files", before)


def test_secrets_toml_never_beats_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from akari import config

    secrets = tmp_path / "secrets.toml"
    secrets.write_text('CLOUDFLARE_ID = ""\nCLOUDFLARE_API_KEY = "from-file"\nAKARI_DAILY_QUOTA = "7"\n'
                       'AKARI_WORKERS = "3"\ncookie_key = "' + "f" * 40 + '"\n')
    monkeypatch.setenv("CLOUDFLARE_ID", "account-from-env")
    monkeypatch.setenv("AKARI_DAILY_QUOTA", "9")
    monkeypatch.delenv("AKARI_WORKERS", raising=False)
    for name in ("AKARI_COOKIE_KEY", "CLOUDFLARE_API_KEY", "cookie_key"):  # restored after the test
        monkeypatch.delenv(name, raising=False)
    config.remember_environment()  # the server process as it starts, before Streamlit
    _streamlit_copies_secrets_into_the_environment(secrets, monkeypatch)
    assert os.environ["CLOUDFLARE_ID"] == ""  # Streamlit did overwrite the real variable...
    settings = load_settings(env=config.configuration((secrets,)))
    assert settings.cloudflare_account_id == "account-from-env"  # ...and the real value still wins
    assert settings.generator == "cloudflare"
    assert settings.default_daily_quota == 9
    assert settings.workers == 3  # only in the file: the file counts
    assert settings.cookie_key == "f" * 40


def test_a_broken_secrets_file_names_itself(tmp_path: Path) -> None:
    from akari import config

    secrets = tmp_path / "secrets.toml"
    secrets.write_text("CLOUDFLARE_ID = \n")
    with pytest.raises(ConfigError, match=r"secrets\.toml is not valid TOML"):
        config.configuration((secrets,))


def test_every_setting_is_documented_in_the_readme() -> None:
    import re

    source = (Path(__file__).parents[1] / "akari" / "config.py").read_text()
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    names = set(re.findall(r'"((?:AKARI|CLOUDFLARE|CLOUDINARY)_[A-Z_]+)"', source))
    assert len(names) > 20
    assert sorted(name for name in names if f"`{name}`" not in readme) == []
