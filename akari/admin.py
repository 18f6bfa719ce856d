"""Figures for the admin page that no other service keeps: today's generations per user."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from akari.db.models import Generation
from akari.generation import COUNTED_STATUSES, start_of_day_utc


def generations_today(sessions: sessionmaker[Session]) -> dict[int, int]:
    """user id -> generations counted against today's quota (one GROUP BY over today's rows)."""
    with sessions() as session:
        rows = session.execute(
            select(Generation.user_id, func.count(Generation.id))
            .where(Generation.created_at >= start_of_day_utc(), Generation.status.in_(COUNTED_STATUSES))
            .group_by(Generation.user_id)
        ).all()
    return {user_id: count for user_id, count in rows}
