"""Which models people may pick and which one is preselected: the admin's choice, kept with the preferences."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session, sessionmaker

from akari import preferences
from akari.db.models import Preference
from akari.errors import InvalidInput
from akari.models_catalog import CATALOG, DEFAULT_MODEL, ModelSpec, get_model

_CHOICE = select(Preference.key, Preference.value).where(Preference.key.in_(("enabled_models", "default_model")))


def read(session: Session | Connection) -> tuple[list[str], str]:
    """(enabled model ids in catalogue order, the default one), in one query. A model that left the catalogue is
    dropped; the default is always enabled."""
    stored = dict(session.execute(_CHOICE).tuples().all())
    enabled_ids = stored.get("enabled_models")
    enabled = [m for m in CATALOG if enabled_ids is None or m in enabled_ids] or [DEFAULT_MODEL]
    default = stored.get("default_model")
    return enabled, default if default in enabled else enabled[0]


def resolve(session: Session | Connection, model: str | None) -> ModelSpec:
    """The model a request gets: the one asked for if enabled, else the default when none was asked for."""
    enabled, default = read(session)
    if model is None:
        return get_model(default)
    spec = get_model(model)
    if spec.id not in enabled:
        names = ", ".join(get_model(m).label for m in enabled)
        raise InvalidInput(f"{spec.label} is not enabled on this server. Pick one of: {names}.")
    return spec


class ModelChoice:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def get(self) -> tuple[list[ModelSpec], ModelSpec]:
        with self.sessions() as session:
            enabled, default = read(session)
        return [get_model(m) for m in enabled], get_model(default)

    def set(self, enabled: Iterable[str], default: str) -> None:
        """The admin's choice: at least one model, the default among them."""
        chosen = [get_model(m).id for m in CATALOG if m in set(enabled)]
        unknown = set(enabled) - set(CATALOG)
        if unknown:
            raise InvalidInput(f"Unknown model {sorted(unknown)[0]!r}.")
        if not chosen:
            raise InvalidInput("Enable at least one model.")
        if default not in chosen:
            raise InvalidInput(f"The default model must be one of the enabled ones ({get_model(default).label} "
                               "is not enabled).")
        with self.sessions.begin() as session:
            preferences.put(session, "enabled_models", chosen)
            preferences.put(session, "default_model", default)
