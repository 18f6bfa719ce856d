"""Usage figures from the per-day summaries the database keeps, and the generation log as CSV, for one user or all."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, case, func, select
from sqlalchemy.orm import Session

from akari.db.models import User
from akari.errors import InvalidInput, PermissionDenied
from akari.models_catalog import label_for
from akari.pricing import FREE_NEURONS_PER_DAY, dollars_for
from akari.prompts import SOURCES
from akari.quota import COUNTED_STATUSES, start_of_day_utc
from akari.summaries import summaries

if TYPE_CHECKING:
    from akari.gallery import Viewer
    from akari.studio import Studio

DEFAULT_DAYS = 30
MAX_DAYS = 3660
# Time-to-image buckets, as migration 0002 defines them: 100 ms wide below 10 s, 1 s wide to 120 s, then open.
FINE_LIMIT_MS, FINE_WIDTH_MS = 10_000, 100
COARSE_LIMIT_MS, COARSE_WIDTH_MS = 120_000, 1_000
OPEN_BUCKET = 210
SUCCESS_STATUSES = ("succeeded", "pending_upload")  # an image was made (a pending one is stored later)


@dataclass(frozen=True)
class UsageFilter:
    date_from: date
    date_to: date  # inclusive, UTC days
    user_id: int | None = None  # None: everyone (administrators only)
    source: str | None = None  # ui | api | cli; None: all

    @classmethod
    def last_days(cls, days: int = DEFAULT_DAYS, user_id: int | None = None, today: date | None = None,
                  source: str | None = None) -> UsageFilter:
        today = today or start_of_day_utc().date()
        return cls(today - timedelta(days=days - 1), today, user_id, source)


@dataclass(frozen=True)
class Headline:
    generations: int
    succeeded: int  # an image was made
    failed: int
    median_ms: float | None  # time to image, from the summaries' 100 ms buckets
    p95_ms: float | None
    neurons: float
    billable_neurons: float | None  # above the account's free daily allowance; only for everyone's figures
    today_used: int
    today_quota: int | None  # None for everyone's figures

    @property
    def success_rate(self) -> float | None:
        finished = self.succeeded + self.failed
        return self.succeeded / finished if finished else None

    @property
    def dollars(self) -> float:
        return dollars_for(self.neurons)

    @property
    def billable_dollars(self) -> float | None:
        return None if self.billable_neurons is None else dollars_for(self.billable_neurons)


@dataclass(frozen=True)
class DayStatus:
    day: date
    status: str
    generations: int
    neurons: float


@dataclass(frozen=True)
class TimeBucket:
    start_ms: int
    end_ms: int | None  # None: the open bucket at the end
    generations: int


@dataclass(frozen=True)
class Count:
    label: str  # a failure reason, or a steps value
    generations: int
    neurons: float = 0.0


@dataclass(frozen=True)
class UserUsage:
    user_id: int
    username: str
    generations: int
    succeeded: int
    failed: int
    neurons: float

    @property
    def dollars(self) -> float:
        return dollars_for(self.neurons)


@dataclass(frozen=True)
class ModelUsage:
    """One model's share of a period: counts, neurons, cost and time to image."""

    model: str  # the recorded model id
    label: str
    generations: int
    succeeded: int
    failed: int
    neurons: float
    average_ms: float | None  # time to image, of the images made and stored
    p95_ms: float | None  # its 95th percentile, from the summaries' 100 ms buckets

    @property
    def dollars(self) -> float:
        return dollars_for(self.neurons)


@dataclass(frozen=True)
class UsageReport:
    filter: UsageFilter
    headline: Headline
    per_day: list[DayStatus]
    time_to_image: list[TimeBucket]
    failure_reasons: list[Count]
    steps: list[Count]
    per_user: list[UserUsage] = field(default_factory=list)  # everyone's figures only


def bucket_bounds(bucket: int) -> tuple[int, int | None]:
    """(start, end) in milliseconds of a time-to-image bucket."""
    if bucket < FINE_LIMIT_MS // FINE_WIDTH_MS:
        return bucket * FINE_WIDTH_MS, (bucket + 1) * FINE_WIDTH_MS
    if bucket < OPEN_BUCKET:
        start = FINE_LIMIT_MS + (bucket - FINE_LIMIT_MS // FINE_WIDTH_MS) * COARSE_WIDTH_MS
        return start, start + COARSE_WIDTH_MS
    return COARSE_LIMIT_MS, None


def percentile(buckets: list[TimeBucket], q: float) -> float | None:
    """The q-th quantile (0-1): found in the bucket that holds it, placed as if that bucket's values were spread
    evenly across it (each at the middle of its share)."""
    total = sum(b.generations for b in buckets)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for bucket in buckets:
        if bucket.generations <= 0:
            continue
        if seen + bucket.generations >= rank:
            if bucket.end_ms is None:
                return float(bucket.start_ms)
            share = min(max((rank - seen - 0.5) / bucket.generations, 0.0), 1.0)
            return bucket.start_ms + share * (bucket.end_ms - bucket.start_ms)
        seen += bucket.generations
    return float(buckets[-1].start_ms)


class Usage:
    """Figures for one user (anyone, for themselves) or for everyone and any user (administrators)."""

    def __init__(self, studio: Studio) -> None:
        self.studio = studio
        self.sessions = studio.sessions

    def users(self, viewer: Viewer) -> list[tuple[int, str]]:
        """(id, username) of everyone with generations, for an administrator's picker."""
        with self.sessions() as session:
            self.check(session, viewer, None)
            rows = session.execute(select(User.id, User.username).order_by(User.username))
            return [(uid, name) for uid, name in rows]

    def report(self, viewer: Viewer, usage_filter: UsageFilter) -> UsageReport:
        """Every figure of the usage page; each is a GROUP BY over a few thousand summary rows."""
        check_dates(usage_filter)
        with self.sessions() as session:
            self.check(session, viewer, usage_filter.user_id)
            per_day = self._per_day(session, usage_filter)
            buckets = self._time_buckets(session, usage_filter)
            by_reason = self._summed("reason", usage_filter)
            reasons = [Count(str(v), int(n)) for v, n in session.execute(
                by_reason.order_by(by_reason.selected_columns[1].desc()))]
            steps = sorted((Count(str(v), int(n), float(neurons or 0)) for v, n, neurons in session.execute(
                self._summed("steps", usage_filter, with_neurons=True))), key=lambda c: int(c.label))
            per_user = self._per_user(session, usage_filter) if usage_filter.user_id is None else []
            today_used, today_quota = self._today(session, usage_filter.user_id)
        statuses: dict[str, int] = {}
        neurons_by_day: dict[date, float] = {}
        for row in per_day:
            statuses[row.status] = statuses.get(row.status, 0) + row.generations
            neurons_by_day[row.day] = neurons_by_day.get(row.day, 0.0) + row.neurons
        neurons = sum(neurons_by_day.values())
        headline = Headline(
            generations=sum(statuses.values()),
            succeeded=sum(statuses.get(s, 0) for s in SUCCESS_STATUSES),
            failed=statuses.get("failed", 0),
            median_ms=percentile(buckets, 0.5),
            p95_ms=percentile(buckets, 0.95),
            neurons=neurons,
            # The free allowance is per account and per day, so it only means something for everyone's figures.
            billable_neurons=sum(max(0.0, n - FREE_NEURONS_PER_DAY) for n in neurons_by_day.values())
            if usage_filter.user_id is None else None,
            today_used=today_used,
            today_quota=today_quota,
        )
        return UsageReport(usage_filter, headline, per_day, buckets, reasons, steps, per_user)

    # -- queries ---------------------------------------------------------------------------------------------------
    @staticmethod
    def _summed(dimension: str, usage_filter: UsageFilter, *, with_neurons: bool = False) -> Select[Any]:
        """One dimension's summary rows in the filter, summed per value."""
        table = summaries()
        columns = [table.c.value, func.sum(table.c.generations)]
        if with_neurons:
            columns.append(func.sum(table.c.neurons))
        return (
            select(*columns)
            .where(*_in_filter(table, dimension, usage_filter))
            .group_by(table.c.value)
            .having(func.sum(table.c.generations) != 0)
        )

    def _per_day(self, session: Session, usage_filter: UsageFilter) -> list[DayStatus]:
        table = summaries()
        stmt = (
            select(table.c.day, table.c.value, func.sum(table.c.generations), func.sum(table.c.neurons))
            .where(*_in_filter(table, "status", usage_filter))
            .group_by(table.c.day, table.c.value)
            .having(func.sum(table.c.generations) != 0)
            .order_by(table.c.day, table.c.value)
        )
        return [DayStatus(_as_date(day), status, int(n), float(neurons or 0))
                for day, status, n, neurons in session.execute(stmt)]

    def _time_buckets(self, session: Session, usage_filter: UsageFilter) -> list[TimeBucket]:
        counts = {int(v): int(n) for v, n in session.execute(self._summed("time", usage_filter))}
        buckets = []
        for bucket in sorted(counts):
            start, end = bucket_bounds(bucket)
            buckets.append(TimeBucket(start, end, counts[bucket]))
        return buckets

    def _per_user(self, session: Session, usage_filter: UsageFilter) -> list[UserUsage]:
        table = summaries()
        generations = func.sum(table.c.generations)
        stmt = (
            select(
                table.c.user_id,
                User.username,
                generations,
                func.sum(case((table.c.value.in_(SUCCESS_STATUSES), table.c.generations), else_=0)),
                func.sum(case((table.c.value == "failed", table.c.generations), else_=0)),
                func.sum(table.c.neurons),
            )
            .join(User, User.id == table.c.user_id)
            .where(*_in_filter(table, "status", replace(usage_filter, user_id=None)))
            .group_by(table.c.user_id, User.username)
            .having(generations != 0)
            .order_by(generations.desc(), User.username)
        )
        return [UserUsage(uid, name, int(n), int(ok or 0), int(bad or 0), float(neurons or 0))
                for uid, name, n, ok, bad, neurons in session.execute(stmt)]

    def _today(self, session: Session, user_id: int | None) -> tuple[int, int | None]:
        """Generations counted against quotas today: one user's (with their quota), or everyone's."""
        if user_id is not None:
            user = session.get(User, user_id)
            if user is None:
                return 0, None
            usage = self.studio.quotas.usage(session, user)
            return usage.used, usage.quota
        # From the summaries: on the table itself the planner may walk the status index over every row.
        table = summaries()
        used = session.scalar(
            select(func.sum(table.c.generations)).where(
                table.c.dimension == "status",
                table.c.day == start_of_day_utc().date(),
                table.c.value.in_(COUNTED_STATUSES),
            )
        )
        return int(used or 0), None

    def check(self, session: Session, viewer: Viewer, user_id: int | None) -> None:
        """Members see their own figures; administrators see everyone's. Roles come from the database."""
        user = session.get(User, viewer.id)
        if user is None or not user.enabled:
            raise PermissionDenied("Your account is disabled. Ask your administrator.")
        if user_id != viewer.id and not user.is_admin:
            raise PermissionDenied("Only administrators can see other people's usage.")

    def by_model(self, viewer: Viewer, usage_filter: UsageFilter) -> list[ModelUsage]:
        """The period split by model, most used first, from the summaries' model key (migration 0007): counts and
        neurons from the status rows, time to image from the time buckets, as the headline figures are."""
        check_dates(usage_filter)
        table = summaries()
        count = func.sum(table.c.generations)
        by_status = (
            select(table.c.model, count,
                   func.sum(case((table.c.value.in_(SUCCESS_STATUSES), table.c.generations), else_=0)),
                   func.sum(case((table.c.value == "failed", table.c.generations), else_=0)),
                   func.sum(case((table.c.value.in_(COUNTED_STATUSES), table.c.neurons), else_=0.0)))
            .where(*_in_filter(table, "status", usage_filter))
            .group_by(table.c.model)
            .having(count != 0)
        )
        by_time = (
            select(table.c.model, table.c.value, count, func.sum(table.c.time_ms))
            .where(*_in_filter(table, "time", usage_filter))
            .group_by(table.c.model, table.c.value)
            .having(count != 0)
        )
        with self.sessions() as session:
            self.check(session, viewer, usage_filter.user_id)
            counted = session.execute(by_status).all()
            timed = session.execute(by_time).all()
        buckets: dict[str, list[TimeBucket]] = {}
        total_ms: dict[str, int] = {}
        for model, bucket, n, ms in sorted(timed, key=lambda row: int(row[1])):
            buckets.setdefault(model, []).append(TimeBucket(*bucket_bounds(int(bucket)), int(n)))
            total_ms[model] = total_ms.get(model, 0) + int(ms or 0)
        split = []
        for model, n, ok, bad, neurons in counted:
            made = sum(b.generations for b in buckets.get(model, []))
            split.append(ModelUsage(model, label_for(model), int(n), int(ok or 0), int(bad or 0), float(neurons or 0),
                                    total_ms[model] / made if made else None,
                                    percentile(buckets.get(model, []), 0.95)))
        return sorted(split, key=lambda m: (-m.generations, m.model))

    def log_size(self, viewer: Viewer, usage_filter: UsageFilter) -> int:
        """How many rows the generation log of this filter has (from the summaries: no scan)."""
        check_dates(usage_filter)
        with self.sessions() as session:
            self.check(session, viewer, usage_filter.user_id)
            return sum(int(n) for _v, n in session.execute(self._summed("status", usage_filter)))


def _in_filter(table: Any, dimension: str, usage_filter: UsageFilter) -> list[ColumnElement[bool]]:
    conditions = [table.c.dimension == dimension, table.c.day >= usage_filter.date_from,
                  table.c.day <= usage_filter.date_to]
    if usage_filter.user_id is not None:
        conditions.append(table.c.user_id == usage_filter.user_id)
    if usage_filter.source is not None:
        conditions.append(table.c.source == usage_filter.source)
    return conditions


def check_dates(usage_filter: UsageFilter) -> None:
    if usage_filter.date_from > usage_filter.date_to:
        raise InvalidInput("The start date is after the end date.")
    if (usage_filter.date_to - usage_filter.date_from).days > MAX_DAYS:
        raise InvalidInput(f"Pick a range of at most {MAX_DAYS:,} days.")
    if usage_filter.source is not None and usage_filter.source not in SOURCES:
        raise InvalidInput(f"The source must be one of: {', '.join(SOURCES)}.")


def _as_date(value: object) -> date:
    # SQLite hands back text when a column is read through an aggregate's GROUP BY.
    return value if isinstance(value, date) else date.fromisoformat(str(value))
