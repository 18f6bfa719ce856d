"""Settings: explicit values beat the environment, `auto` picks real services only when credentials exist."""

from __future__ import annotations

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
