"""The API's test harness: the real server (`streamlit run server.py`), a studio on its database for set-up, and its
users' tokens and cookies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import requests
from sqlalchemy import update

from akari.config import load_settings
from akari.db.models import User
from akari.studio import Studio
from akari.web.signin import COOKIE_NAME
from tests.e2e.servers import AppServer
from tests.gallery_data import Viewer, add_user

COOKIE_KEY = "a-test-cookie-key-that-is-long-enough-0123456789"


class Api:
    """A running server, a studio on its database for set-up, and its users' tokens."""

    def __init__(self, server: AppServer, studio: Studio) -> None:
        self.server = server
        self.studio = studio
        self.tokens: dict[str, str] = {}
        self.users: dict[str, Viewer] = {}

    def user(self, name: str, *, admin: bool = False, quota: int | None = None) -> str:
        """A new account with a token; returns the token."""
        viewer = add_user(self.studio, name, admin=admin)
        if quota is not None:
            self.studio.accounts.set_daily_quota(name, quota)
        self.users[name] = viewer
        self.tokens[name] = self.studio.tokens.create(viewer, viewer.id, "tests").token
        return self.tokens[name]

    def call(self, method: str, path: str, who: str | None = None, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if who is not None:
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        return requests.request(method, self.server.url + path, headers=headers, timeout=60, **kwargs)

    def make(self, who: str, prompt: str = "a lighthouse at dusk", **body: Any) -> requests.Response:
        return self.call("POST", "/api/image-generation", who, json={"prompt": prompt, **body})

    def cookie(self, username: str) -> dict[str, str]:
        """A sign-in cookie as the sign-in route sets it (the account gets a password, as a signed-in one has); an
        unknown username gets a made-up token."""
        with self.studio.sessions.begin() as session:
            user_id = session.scalar(update(User).where(User.username == username).values(
                password_hash=bcrypt.hashpw(b"a long enough password", bcrypt.gensalt(4)).decode()
            ).returning(User.id))
        if user_id is None:
            return {COOKIE_NAME: "not-a-session-token"}
        started = self.studio.signins.start(user_id, "test")
        return {COOKIE_NAME: self.studio.signins.redeem(started.ticket) or ""}


def open_api(tmp: Path, env: dict[str, str]) -> Iterator[Api]:
    data = tmp / "data"
    database = {"AKARI_DATABASE_URL": env["AKARI_DATABASE_URL"]} if "AKARI_DATABASE_URL" in env else {}
    env = {**env, "AKARI_COOKIE_KEY": COOKIE_KEY, "AKARI_MAX_RETRIES": "0", "AKARI_READ_TIMEOUT": "2",
           "AKARI_UPLOAD_TIMEOUT": "2", "AKARI_API_RATE_PER_MINUTE": "1000"}
    server = AppServer(data, env=env).start()
    studio = Studio.open(load_settings(env={"AKARI_DATA_DIR": str(data), "AKARI_COOKIE_KEY": COOKIE_KEY, **database}),
                         run_migrations=False)
    try:
        yield Api(server, studio)
    finally:
        studio.close()
        server.stop()
