"""A person's recent generations, grouped into the batches they asked for: the Generate page's feed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from akari.db.models import Generation, User
from akari.records import GenerationRecord

DEFAULT_ROWS = 24


@dataclass(frozen=True)
class Batch:
    """The images of one submit (1-4), oldest first: they share the prompt, the steps and the moment of asking."""

    records: tuple[GenerationRecord, ...]

    @property
    def first(self) -> GenerationRecord:
        return self.records[0]

    @property
    def prompt(self) -> str:
        return self.first.prompt

    @property
    def created_at(self) -> datetime:
        return self.first.created_at

    @property
    def active(self) -> bool:
        return any(not record.is_done for record in self.records)


def recent_batches(sessions: sessionmaker[Session], user_id: int, rows: int = DEFAULT_ROWS) -> list[Batch]:
    """The user's newest `rows` generations (deleted ones left out), as batches, newest first. A batch is inserted
    in one statement with one timestamp, so rows next to each other with the same prompt, steps and time are one."""
    query = (
        select(Generation, User.username).join(User)
        .where(Generation.user_id == user_id, Generation.deleted_at.is_(None))
        .order_by(Generation.id.desc()).limit(rows)
    )
    with sessions() as session:
        records = [GenerationRecord.from_row(row, name) for row, name in session.execute(query)]
    batches: list[list[GenerationRecord]] = []
    for record in records:
        last = batches[-1][-1] if batches else None
        if last is not None and (last.prompt, last.steps, last.created_at, last.is_public) == (
                record.prompt, record.steps, record.created_at, record.is_public):
            batches[-1].append(record)
        else:
            batches.append([record])
    return [Batch(tuple(reversed(group))) for group in batches]
