"""Daily quotas: how many generations and neurons each user may spend per UTC day, and how many they have spent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.orm import Session, sessionmaker

from akari import preferences
from akari.db.models import Generation, Preference, User, utcnow
from akari.errors import InvalidInput, NeuronQuotaExceeded, QuotaExceeded

# What counts against the quota: everything started today except what failed or was cancelled before it ran.
COUNTED_STATUSES = ("queued", "running", "succeeded", "pending_upload")
# Built once: they run inside every submit.
_DEFAULT_QUOTA = select(Preference.value).where(Preference.key == "default_daily_quota")
_DEFAULT_NEURONS = select(Preference.value).where(Preference.key == "default_daily_neurons")
_USED_TODAY = select(func.count(Generation.id), func.coalesce(func.sum(Generation.neurons), 0.0)).where(
    Generation.user_id == bindparam("user_id"), Generation.created_at >= bindparam("since"),
    Generation.status.in_(COUNTED_STATUSES))


def start_of_day_utc(now: datetime | None = None) -> datetime:
    now = now or utcnow()
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def seconds_until_reset(now: datetime | None = None) -> int:
    """Seconds until the quotas reset at the next 00:00 UTC (for Retry-After)."""
    now = now or utcnow()
    return max(1, int((start_of_day_utc(now) + timedelta(days=1) - now).total_seconds()))


def check_quota(quota: object) -> int | None:
    """A quota as the admin may set it: None (the default) or a whole number, 0 or more."""
    if quota is not None and (isinstance(quota, bool) or not isinstance(quota, int) or quota < 0):
        raise InvalidInput("A daily quota must be a whole number, 0 or more.")
    return quota


def check_neuron_quota(quota: object) -> float | None:
    """A neuron quota as the admin may set it: None (the default) or a number, 0 or more."""
    if quota is not None and (isinstance(quota, bool) or not isinstance(quota, int | float) or not quota >= 0
                              or quota == float("inf")):
        raise InvalidInput("A daily neuron quota must be a number, 0 or more.")
    return None if quota is None else float(quota)


class UserQuota(Protocol):
    """What the quota needs of a user: a row of `users`, as an ORM object or a plain row."""

    id: int
    daily_quota: int | None
    daily_neuron_quota: float | None


@dataclass(frozen=True)
class DailyUsage:
    used: int
    quota: int

    @property
    def left(self) -> int:
        return max(self.quota - self.used, 0)


@dataclass(frozen=True)
class NeuronUsage:
    used: float
    quota: float

    @property
    def left(self) -> float:
        return max(self.quota - self.used, 0.0)


class Quotas:
    """Quotas read from the database: a user's own, else the admin's default, else the AKARI_DAILY_QUOTA setting."""

    def __init__(self, sessions: sessionmaker[Session], setting: int, neuron_setting: float = 25_000) -> None:
        self.sessions = sessions
        self.setting = setting
        self.neuron_setting = neuron_setting

    def default(self, session: Session | Connection) -> int:
        value = session.scalar(_DEFAULT_QUOTA)
        return self.setting if value is None else int(value)

    def quota_for(self, session: Session | Connection, user: UserQuota) -> int:
        return user.daily_quota if user.daily_quota is not None else self.default(session)

    def default_neurons(self, session: Session | Connection) -> float:
        value = session.scalar(_DEFAULT_NEURONS)
        return float(self.neuron_setting if value is None else value)

    def neuron_quota_for(self, session: Session | Connection, user: UserQuota) -> float:
        own = getattr(user, "daily_neuron_quota", None)
        return float(own) if own is not None else self.default_neurons(session)

    @staticmethod
    def spent_today(session: Session | Connection, user_id: int) -> tuple[int, float]:
        """(generations, neurons) counted against today's quotas, in one query."""
        row = session.execute(_USED_TODAY, {"user_id": user_id, "since": start_of_day_utc()}).one()
        return int(row[0] or 0), float(row[1] or 0.0)

    @classmethod
    def used_today(cls, session: Session | Connection, user_id: int) -> int:
        return cls.spent_today(session, user_id)[0]

    def usage(self, session: Session | Connection, user: UserQuota) -> DailyUsage:
        return DailyUsage(self.used_today(session, user.id), self.quota_for(session, user))

    def neuron_usage(self, session: Session | Connection, user: UserQuota) -> NeuronUsage:
        return NeuronUsage(self.spent_today(session, user.id)[1], self.neuron_quota_for(session, user))

    def reserve(self, session: Session | Connection, user: UserQuota, count: int = 1,
                neurons: float = 0.0) -> DailyUsage:
        """Refuse unless `count` more generations costing `neurons` in all fit in today's quotas. Call it inside the
        transaction that inserts the rows, with the user serialised (a write transaction: SQLite's lock from BEGIN;
        PostgreSQL: the user's row locked), so parallel submits cannot overshoot either quota."""
        used, spent = self.spent_today(session, user.id)
        usage = DailyUsage(used, self.quota_for(session, user))
        if neurons > 0:
            allowance = NeuronUsage(spent, self.neuron_quota_for(session, user))
            if spent + neurons > allowance.quota + 1e-6:
                raise NeuronQuotaExceeded(
                    f"This needs {neurons:,.1f} neurons and you have {allowance.left:,.1f} of today's "
                    f"{allowance.quota:,.0f} left. Pick a cheaper model, a smaller size or fewer steps, or wait for "
                    "the reset at 00:00 UTC.")
        if usage.used + count > usage.quota:
            noun = "generation" if usage.quota == 1 else "generations"
            if usage.left:
                raise QuotaExceeded(f"You have {usage.left} of today's {usage.quota} {noun} left, not {count}. "
                                    "Your quota resets at 00:00 UTC.")
            raise QuotaExceeded(f"You have used all {usage.quota} of today's generations. Your quota resets at "
                                "00:00 UTC; ask your administrator if you need more.")
        return usage

    # -- the admin's settings ----------------------------------------------------------------------------------------
    def get_default(self) -> int:
        with self.sessions() as session:
            return self.default(session)

    def set_default(self, quota: int | None) -> None:
        """None returns to the AKARI_DAILY_QUOTA setting."""
        check_quota(quota)
        with self.sessions.begin() as session:
            preferences.put(session, "default_daily_quota", quota)

    def get_default_neurons(self) -> float:
        with self.sessions() as session:
            return self.default_neurons(session)

    def set_default_neurons(self, quota: float | None) -> None:
        """None returns to the AKARI_DAILY_NEURONS setting."""
        quota = check_neuron_quota(quota)
        with self.sessions.begin() as session:
            preferences.put(session, "default_daily_neurons", quota)

    def set_user_neurons(self, user_id: int, quota: float | None) -> None:
        """One account's own daily neuron quota; None returns it to the default."""
        quota = check_neuron_quota(quota)
        with self.sessions.begin() as session:
            user = session.get(User, user_id)
            if user is None:
                raise InvalidInput("That account does not exist.")
            user.daily_neuron_quota = quota

    def daily_neurons(self, user_id: int) -> NeuronUsage:
        with self.sessions() as session:
            user = session.get(User, user_id)
            if user is None:
                return NeuronUsage(0.0, 0.0)
            return self.neuron_usage(session, user)

    def today_by_user(self) -> dict[int, int]:
        """user id -> generations counted against today's quota (one GROUP BY over today's rows)."""
        with self.sessions() as session:
            rows = session.execute(
                select(Generation.user_id, func.count(Generation.id))
                .where(Generation.created_at >= start_of_day_utc(), Generation.status.in_(COUNTED_STATUSES))
                .group_by(Generation.user_id)
            ).all()
        return {user_id: count for user_id, count in rows}

    def daily_usage(self, user_id: int) -> DailyUsage:
        with self.sessions() as session:
            user = session.get(User, user_id)
            if user is None:
                return DailyUsage(0, 0)
            return self.usage(session, user)
