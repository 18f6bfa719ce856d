"""A user's recent distinct prompts, newest first, for one-click reuse."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from akari.db.models import Generation

DEFAULT_LIMIT = 8
# Only the newest rows are looked at, so a user with thousands of images costs the same as one with fifty.
SCAN_ROWS = 200


def recent_prompts(sessions: sessionmaker[Session], user_id: int, limit: int = DEFAULT_LIMIT) -> list[str]:
    """The user's last `limit` distinct prompts (any outcome, deleted images left out), newest first."""
    newest = (
        select(Generation.id, Generation.prompt)
        .where(Generation.user_id == user_id, Generation.deleted_at.is_(None))
        .order_by(Generation.created_at.desc(), Generation.id.desc())
        .limit(SCAN_ROWS)
        .subquery()
    )
    query = (
        select(newest.c.prompt)
        .group_by(newest.c.prompt)
        .order_by(func.max(newest.c.id).desc())
        .limit(limit)
    )
    with sessions() as session:
        return list(session.scalars(query))
