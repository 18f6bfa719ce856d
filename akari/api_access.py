"""The administrator's switch for the HTTP API, kept with the other admin preferences."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from akari import preferences
from akari.db.models import User
from akari.errors import PermissionDenied
from akari.gallery import Viewer

KEY = "api_enabled"
OFF_MESSAGE = "The HTTP API is turned off on this studio. Ask your administrator."


def api_enabled(sessions: sessionmaker[Session]) -> bool:
    with sessions() as session:
        return bool(preferences.get(session, KEY))


def set_api_enabled(sessions: sessionmaker[Session], actor: Viewer, enabled: bool) -> None:
    """Turn the API on or off for everyone at once; administrators only."""
    with sessions.begin() as session:
        user = session.get(User, actor.id)
        if user is None or not user.enabled or not user.is_admin:
            raise PermissionDenied("Only administrators can turn the HTTP API on or off.")
        preferences.put(session, KEY, bool(enabled))
