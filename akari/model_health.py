"""For the admin: each enabled model's connection status, and the inputs a model refused, with the field named."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from akari.db.models import Generation, utcnow
from akari.errors import AkariError
from akari.generators import ImageGenerator
from akari.models_catalog import ModelSpec, label_for

_FIELD = re.compile(r'refused the "(?P<field>[^"]+)" input')


@dataclass(frozen=True)
class ModelStatus:
    model: ModelSpec
    ok: bool
    message: str


@dataclass(frozen=True)
class RefusedInput:
    """A model refused a field Akari sent: what to tell the admin."""

    model: str  # the model's label
    field: str
    times: int
    last_at: datetime
    last_message: str

    @property
    def sentence(self) -> str:
        times = "once" if self.times == 1 else f"{self.times} times"
        return (f"{self.model} refused the \"{self.field}\" input {times} (last at {self.last_at:%Y-%m-%d %H:%M} "
                f"UTC). The provider may have stopped accepting it or changed its range: check the model's page.")


def check_models(generator: ImageGenerator, models: list[ModelSpec]) -> list[ModelStatus]:
    """One cheap check per model (the offline renderer answers for all of them at once)."""
    statuses = []
    for spec in models:
        try:
            message = generator.check(spec.id) if generator.name == "cloudflare" else generator.check()  # type: ignore[call-arg]
        except AkariError as exc:
            statuses.append(ModelStatus(spec, False, exc.message))
        else:
            statuses.append(ModelStatus(spec, True, message))
    return statuses


def refused_inputs(sessions: sessionmaker[Session], days: int = 7) -> list[RefusedInput]:
    """The fields models refused in the last `days` days, grouped by model and field, most recent first."""
    since = utcnow() - timedelta(days=days)
    with sessions() as session:
        rows = session.execute(
            select(Generation.model, Generation.error_message, func.count(Generation.id),
                   func.max(Generation.created_at))
            .where(Generation.error_reason == "rejected_field", Generation.created_at >= since)
            .group_by(Generation.model, Generation.error_message)
        ).all()
    grouped: dict[tuple[str, str], RefusedInput] = {}
    for model, message, count, last_at in rows:
        match = _FIELD.search(message or "")
        field = match["field"] if match else "?"
        key = (model, field)
        before = grouped.get(key)
        if before is None or last_at > before.last_at:
            total = count + (before.times if before else 0)
            grouped[key] = RefusedInput(label_for(model), field, total, last_at, message or "")
        else:
            grouped[key] = RefusedInput(before.model, field, before.times + count, before.last_at,
                                        before.last_message)
    return sorted(grouped.values(), key=lambda r: r.last_at, reverse=True)
