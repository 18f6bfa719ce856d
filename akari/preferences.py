"""Admin-set preferences kept in the database (registration mode, allowed emails, default quota)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from akari.db.models import Preference

REGISTRATION_MODES = ("closed", "open", "allowlist")
DEFAULTS: dict[str, Any] = {
    "registration_mode": "closed",
    "registration_allowlist": [],  # emails (a@b.c) and domains (@b.c)
    "default_daily_quota": None,  # None: the AKARI_DAILY_QUOTA setting
    "api_enabled": True,  # the HTTP API (akari/api_access.py)
    "default_daily_neurons": None,  # None: the AKARI_DAILY_NEURONS setting
    "enabled_models": None,  # model ids people may pick; None: every catalogued model
    "default_model": None,  # None: akari.models_catalog.DEFAULT_MODEL
}


def get(session: Session, key: str) -> Any:
    row = session.get(Preference, key)
    return DEFAULTS.get(key) if row is None else row.value


def put(session: Session, key: str, value: Any) -> None:
    if key not in DEFAULTS:
        raise KeyError(key)
    row = session.get(Preference, key)
    if row is None:
        session.add(Preference(key=key, value=value))
    else:
        row.value = value
