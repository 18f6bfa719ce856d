"""The generation log as CSV: every attempt in a period, one row each, streamed a chunk at a time."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, tuple_

from akari.db.models import Generation, User
from akari.pricing import dollars_for
from akari.spreadsheets import spreadsheet_safe
from akari.usage import Usage, UsageFilter, check_dates

if TYPE_CHECKING:
    from akari.gallery import Viewer

CSV_CHUNK_ROWS = 5_000
CSV_COLUMNS = ("id", "created_at", "user", "status", "prompt", "steps", "seed", "generator", "model", "store",
               "neurons", "dollars", "generate_ms", "store_ms", "total_ms", "error_reason", "error_code",
               "error_message", "shared", "favourite", "deleted")


def csv_chunks(usage: Usage, viewer: Viewer, usage_filter: UsageFilter,
               chunk_rows: int = CSV_CHUNK_ROWS) -> Iterator[str]:
    """The filtered generation log as CSV text, a chunk of rows at a time: memory stays flat at any size."""
    check_dates(usage_filter)
    with usage.sessions() as session:
        usage.check(session, viewer, usage_filter.user_id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    yield out.getvalue()
    start = datetime.combine(usage_filter.date_from, time())
    end = datetime.combine(usage_filter.date_to + timedelta(days=1), time())
    cursor: tuple[datetime, int] | None = None
    while True:
        # Keyset paging on (created_at, id) along the created_at index: each chunk is one short index range.
        conditions = [Generation.created_at >= start, Generation.created_at < end]
        if usage_filter.user_id is not None:
            conditions.append(Generation.user_id == usage_filter.user_id)
        if usage_filter.source is not None:
            conditions.append(Generation.source == usage_filter.source)
        if cursor is not None:
            conditions.append(tuple_(Generation.created_at, Generation.id) > tuple_(*cursor))
        stmt = (
            select(Generation, User.username)
            .join(User, User.id == Generation.user_id)
            .where(*conditions)
            .order_by(Generation.created_at, Generation.id)
            .limit(chunk_rows)
        )
        with usage.sessions() as session:
            rows = session.execute(stmt).all()
        if not rows:
            return
        out = io.StringIO()
        writer = csv.writer(out)
        for row, username in rows:
            writer.writerow(_csv_row(row, username))
        yield out.getvalue()
        last = rows[-1][0]
        cursor = (last.created_at, last.id)
        if len(rows) < chunk_rows:
            return


def _csv_row(row: Generation, username: str) -> list[object]:
    total = None if row.generate_ms is None else row.generate_ms + (row.store_ms or 0)
    return [
        row.id,
        row.created_at.isoformat(sep=" ", timespec="seconds"),
        spreadsheet_safe(username),
        row.status,
        spreadsheet_safe(row.prompt),
        row.steps,
        row.seed,
        row.generator,
        row.model,
        row.store,
        round(row.neurons or 0.0, 2),
        f"{dollars_for(row.neurons or 0.0):.6f}",
        row.generate_ms,
        row.store_ms,
        total,
        row.error_reason,
        row.error_code,
        spreadsheet_safe(row.error_message or ""),
        int(bool(row.is_public)),
        int(bool(row.is_favourite)),
        int(row.deleted_at is not None),
    ]
