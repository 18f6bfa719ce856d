"""The Usage page's pieces: range and user pickers, headline numbers, charts and the CSV export."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import altair as alt
import pandas as pd
import streamlit as st

from akari.accounts import CurrentUser
from akari.errors import AkariError
from akari.pricing import dollars_for
from akari.quota import start_of_day_utc
from akari.usage import Usage, UsageFilter, UsageReport
from akari.usage_log import CSV_CHUNK_ROWS, csv_chunks
from ui.context import get_studio
from ui.layout import two_up_on_phone
from ui.model_views import show_model_split
from ui.text import plain
from ui.usage_source import pick_source, sourced_report

# Widget keys (tests address widgets by these).
RANGE_KEY = "usage_range"
DATES_KEY = "usage_dates"
USER_KEY = "usage_user"
EXPORT_KEY = "usage_export"  # "Prepare the CSV"
EXPORT_DOWNLOAD_KEY = "usage_export_download"
EXPORT_READY_KEY = "usage_export_ready"  # (filter, bytes) of the CSV written last

RANGES = {"7 days": 7, "30 days": 30, "90 days": 90, "1 year": 365, "Custom": None}
EVERYONE = 0  # the user picker's "everyone" entry
CACHE_SECONDS = 30
MAX_EXPORT_ROWS = 250_000  # a download is held in memory until the browser fetches it
STATUS_COLOURS = {"succeeded": "#2e7d32", "failed": "#c62828", "pending_upload": "#f9a825", "queued": "#90a4ae",
                  "running": "#42a5f5"}
# Failure reasons as stored (akari.errors and the generators) and as a reader would say them.
REASON_LABELS = {"safety_filter": "Safety filter", "capacity": "Service busy", "timeout": "Timed out",
                 "daily_allocation": "Daily allowance used up", "network": "Network", "interrupted": "Interrupted",
                 "auth": "Credentials refused", "account_blocked": "Account blocked", "bad_request": "Bad request",
                 "invalid_input": "Input refused", "prompt_too_large": "Prompt too large",
                 "model_unavailable": "Model unavailable", "bad_response": "Bad response",
                 "provider_error": "Service error", "internal": "Internal error", "spool_missing": "Lost upload",
                 "unknown": "Unknown"}
# Counts are whole numbers: no 0.5 ticks. Days read "3 Nov" (the ISO date stays in the tooltip).
COUNT_AXIS = alt.Axis(tickMinStep=1, format=",d")
DAY_LABEL = "timeFormat(toDate(datum.value + 'T00:00:00'), '%-d %b')"
STATUS_LABELS = {"succeeded": "Succeeded", "failed": "Failed", "pending_upload": "Waiting for upload",
                 "queued": "Queued", "running": "Running"}


@dataclass(frozen=True)
class _Viewer:
    id: int


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False, max_entries=256)
def usage_report(viewer_id: int, date_from: date, date_to: date, user_id: int | None) -> UsageReport:
    """Cached briefly per viewer and filter: figures a few seconds old are fine, and reruns cost nothing."""
    return Usage(get_studio()).report(_Viewer(viewer_id), UsageFilter(date_from, date_to, user_id))


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def _people(viewer_id: int) -> list[tuple[int, str]]:
    return Usage(get_studio()).users(_Viewer(viewer_id))


def page(user: CurrentUser) -> None:
    st.html(two_up_on_phone("usage_metrics"))
    st.title("Usage")
    usage_filter = _filters(user)
    if usage_filter is None:
        return
    before = previous_period(usage_filter)
    source = pick_source()  # pages, HTTP API or command line (ui/usage_source.py)
    try:
        report = sourced_report(usage_report, user.id, usage_filter, source)
        earlier = sourced_report(usage_report, user.id, before, source)
    except AkariError as exc:
        st.error(plain(exc.message))
        return
    _headline(report, earlier)
    _charts(report)
    show_model_split(user.id, usage_filter)  # counts, neurons, cost and time by model (ui/model_views.py)
    _export(user, report)


def previous_period(usage_filter: UsageFilter) -> UsageFilter:
    """The same number of days just before, for "this period vs the previous one"."""
    days = (usage_filter.date_to - usage_filter.date_from).days + 1
    return UsageFilter(usage_filter.date_from - timedelta(days=days), usage_filter.date_from - timedelta(days=1),
                       usage_filter.user_id)


def _filters(user: CurrentUser) -> UsageFilter | None:
    today = start_of_day_utc().date()
    columns = st.columns([3, 2, 2] if user.is_admin else [3, 2], vertical_alignment="bottom")
    with columns[0]:
        # Pills wrap on a narrow screen, where a segmented control would cut "Custom" off.
        picked = st.pills("Period", list(RANGES), default="30 days", required=True, key=RANGE_KEY)
    days = RANGES.get(picked or "30 days")
    with columns[1]:
        if days is None:
            dates = st.date_input("Dates (UTC)", value=(today - timedelta(days=29), today), max_value=today,
                                  key=DATES_KEY)
            if not isinstance(dates, tuple) or len(dates) != 2:
                st.caption("Pick the last day too.")
                return None
            date_from, date_to = dates
        else:
            date_from, date_to = today - timedelta(days=days - 1), today
            st.caption(f"{date_from:%d %b %Y} – {date_to:%d %b %Y} (UTC)")
    user_id: int | None = user.id
    if user.is_admin:
        with columns[2]:
            people = dict(_people(user.id))
            choice = st.selectbox("Whose usage", [EVERYONE, *people], key=USER_KEY,
                                  format_func=lambda uid: "Everyone" if uid == EVERYONE else people.get(uid, "?"))
        user_id = None if choice in (None, EVERYONE) else choice
    return UsageFilter(date_from, date_to, user_id)


def _seconds(ms: float | None) -> str:
    return "–" if ms is None else f"{ms / 1000:.1f} s"


def _change(now: float | None, before: float | None, unit: str = "") -> str | None:
    """A metric's delta against the previous period, or None when there is nothing to compare."""
    if now is None or before is None:
        return None
    difference = now - before
    if unit == "%":
        return f"{difference * 100:+.1f} pts"
    if unit == "s":
        return f"{difference / 1000:+.1f} s"
    if unit == "$":
        return f"{'+' if difference >= 0 else '-'}${abs(difference):,.2f}"
    return f"{difference:+,.0f}"


def _headline(report: UsageReport, earlier: UsageReport) -> None:
    """Eight cards in two rows (two to a line on a phone), each compared with the period before."""
    h, b = report.headline, earlier.headline
    compared = b.generations > 0
    today = f"{h.today_used:,}" if h.today_quota is None else f"{h.today_used:,} / {h.today_quota:,}"
    cards = [
        ("Generations", f"{h.generations:,}", _change(h.generations, b.generations) if compared else None,
         "normal", "Every attempt in the period."),
        ("Success rate", "–" if h.success_rate is None else f"{h.success_rate:.1%}",
         _change(h.success_rate, b.success_rate, "%"), "normal", "Images made out of attempts that finished."),
        ("Median time to image", _seconds(h.median_ms), _change(h.median_ms, b.median_ms, "s"), "inverse",
         "From the request to the stored image, to the nearest 0.1 s."),
        ("95th percentile", _seconds(h.p95_ms), _change(h.p95_ms, b.p95_ms, "s"), "inverse",
         "95 in 100 images arrived at least this fast."),
        ("Estimated neurons", f"{h.neurons:,.0f}", _change(h.neurons, b.neurons) if compared else None, "off",
         "Workers AI pricing: 4.8 neurons per 512×512 tile plus 9.6 per step. Offline sketches cost nothing."),
        ("Estimated cost", f"${h.dollars:,.2f}", _change(h.dollars, b.dollars, "$") if compared else None, "off",
         "At $0.011 per 1,000 neurons."),
    ]
    if h.billable_dollars is not None:
        cards.append(("After the free allowance", f"${h.billable_dollars:,.2f}", None, "off",
                      "The account's first 10,000 neurons each day are free."))
    cards.append(("Today" if h.today_quota is None else "Today's quota used", today, None, "off",
                  "Generations since 00:00 UTC."))
    with st.container(key="usage_metrics"):
        for start in (0, 4):
            for column, (label, value, delta, colour, help_text) in zip(st.columns(4), cards[start:start + 4],
                                                                        strict=False):
                column.metric(label, value, delta=delta, delta_color=colour, border=True, help=help_text)
    before = earlier.filter
    st.caption(f"Changes compare with the {(before.date_to - before.date_from).days + 1} days before "
               f"({before.date_from:%d %b} – {before.date_to:%d %b %Y})." if compared
               else "Nothing to compare with in the period before.")


def _days(report: UsageReport) -> list[date]:
    start, end = report.filter.date_from, report.filter.date_to
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _per_day_chart(report: UsageReport) -> alt.Chart:
    days = [d.isoformat() for d in _days(report)]
    rows = [{"day": r.day.isoformat(), "status": STATUS_LABELS.get(r.status, r.status), "generations": r.generations}
            for r in report.per_day if r.generations]
    present = [s for s in STATUS_COLOURS if any(r.status == s and r.generations for r in report.per_day)]
    colours = alt.Scale(domain=[STATUS_LABELS[s] for s in present], range=[STATUS_COLOURS[s] for s in present])
    return alt.Chart(pd.DataFrame(rows, columns=["day", "status", "generations"])).mark_bar().encode(
        x=alt.X("day:O", title=None, scale=alt.Scale(domain=days, paddingInner=0.15),
                axis=alt.Axis(labelAngle=0, labelOverlap="greedy", labelExpr=DAY_LABEL)),
        y=alt.Y("sum(generations):Q", title="Generations", axis=COUNT_AXIS),
        color=alt.Color("status:N", scale=colours, title=None, legend=alt.Legend(orient="bottom")),
        tooltip=[alt.Tooltip("day:O", title="Day"), alt.Tooltip("status:N", title="Status"),
                 alt.Tooltip("generations:Q", title="Generations", format=",d")],
    )


def _cost_chart(report: UsageReport) -> alt.Chart:
    days = [d.isoformat() for d in _days(report)]
    spent: dict[str, float] = {}
    for r in report.per_day:
        spent[r.day.isoformat()] = spent.get(r.day.isoformat(), 0.0) + dollars_for(r.neurons)
    frame = pd.DataFrame([{"day": day, "dollars": spent.get(day, 0.0)} for day in days])
    return alt.Chart(frame).mark_bar(color="#F2613F").encode(
        x=alt.X("day:O", title=None, scale=alt.Scale(domain=days, paddingInner=0.15),
                axis=alt.Axis(labelAngle=0, labelOverlap="greedy", labelExpr=DAY_LABEL)),
        y=alt.Y("dollars:Q", title="Estimated $", axis=alt.Axis(format="$,.2f", tickCount=4)),
        tooltip=[alt.Tooltip("day:O", title="Day"), alt.Tooltip("dollars:Q", title="Estimated $", format="$,.4f")],
    )


def _charts(report: UsageReport) -> None:
    if not report.headline.generations:
        st.info("No generations in this period.", icon=":material/bar_chart:")
        return
    st.subheader("Generations per day")
    st.altair_chart(_per_day_chart(report), width="stretch", key="usage_chart_per_day")
    st.subheader("Estimated cost per day")
    st.altair_chart(_cost_chart(report), width="stretch", key="usage_chart_cost")
    left, right = st.columns(2)
    with left:
        st.subheader("Time to image")
        times = pd.DataFrame([
            {"from_s": b.start_ms / 1000, "to_s": (b.end_ms if b.end_ms is not None else b.start_ms + 1000) / 1000,
             "images": b.generations} for b in report.time_to_image
        ])
        if times.empty:
            st.caption("No images in this period.")
        else:
            st.altair_chart(
                alt.Chart(times).mark_bar().encode(
                    x=alt.X("from_s:Q", title="Seconds", bin="binned"),
                    x2="to_s:Q",
                    y=alt.Y("images:Q", title="Images", axis=COUNT_AXIS),
                    tooltip=["from_s:Q", "to_s:Q", alt.Tooltip("images:Q", format=",d")],
                ),
                width="stretch",
                key="usage_chart_time",
            )
    with right:
        st.subheader("Failure reasons")
        reasons = pd.DataFrame([{"reason": REASON_LABELS.get(c.label, c.label.replace("_", " ")),
                                 "failures": c.generations} for c in report.failure_reasons])
        if reasons.empty:
            st.caption("No failures in this period.")
        else:
            st.altair_chart(
                alt.Chart(reasons).mark_bar(color=STATUS_COLOURS["failed"]).encode(
                    x=alt.X("failures:Q", title="Failures", axis=COUNT_AXIS),
                    y=alt.Y("reason:N", sort="-x", title=None, axis=alt.Axis(labelLimit=240)),
                    tooltip=["reason:N", alt.Tooltip("failures:Q", format=",d")],
                ),
                width="stretch",
                key="usage_chart_reasons",
            )
    left, right = st.columns(2)
    with left:
        st.subheader("Steps used")
        steps = pd.DataFrame([{"steps": int(c.label), "generations": c.generations, "neurons": c.neurons}
                              for c in report.steps])
        st.altair_chart(
            alt.Chart(steps).mark_bar().encode(
                x=alt.X("steps:O", title="Steps"),
                y=alt.Y("generations:Q", title="Generations", axis=COUNT_AXIS),
                tooltip=["steps:O", alt.Tooltip("generations:Q", format=",d"), alt.Tooltip("neurons:Q", format=",.0f")],
            ),
            width="stretch",
            key="usage_chart_steps",
        )
    if report.per_user:
        with right:
            st.subheader("Per user")
            people = pd.DataFrame([
                {"user": u.username, "succeeded": u.succeeded, "failed": u.failed,
                 "other": u.generations - u.succeeded - u.failed, "neurons": u.neurons, "dollars": u.dollars}
                for u in report.per_user
            ])
            long = people.melt(id_vars=["user"], value_vars=["succeeded", "failed", "other"], var_name="status",
                               value_name="generations")
            st.altair_chart(
                alt.Chart(long).mark_bar().encode(
                    x=alt.X("generations:Q", title="Generations", axis=COUNT_AXIS),
                    y=alt.Y("user:N", sort="-x", title=None, axis=alt.Axis(labelLimit=200)),
                    color=alt.Color("status:N", title=None,
                                    scale=alt.Scale(domain=["succeeded", "failed", "other"],
                                                    range=[STATUS_COLOURS["succeeded"], STATUS_COLOURS["failed"],
                                                           STATUS_COLOURS["queued"]])),
                    tooltip=["user:N", "status:N", alt.Tooltip("generations:Q", format=",d")],
                ),
                width="stretch",
                key="usage_chart_users",
            )
            # A dataframe shows cell text as written, never as Markdown.
            st.dataframe(
                people[["user", "succeeded", "failed", "neurons", "dollars"]],
                hide_index=True,
                column_config={
                    "user": st.column_config.TextColumn("User"),
                    "succeeded": st.column_config.NumberColumn("Images"),
                    "failed": st.column_config.NumberColumn("Failed"),
                    "neurons": st.column_config.NumberColumn("Neurons", format="%.0f"),
                    "dollars": st.column_config.NumberColumn("Est. $", format="$%.2f"),
                },
                key="usage_table_users",
            )


def _export(user: CurrentUser, report: UsageReport) -> None:
    """The log is written a chunk at a time with a progress bar, then handed to the browser as one download."""
    st.subheader("Generation log")
    rows = report.headline.generations
    usage_filter = report.filter
    too_big = rows > MAX_EXPORT_ROWS
    ready = st.session_state.get(EXPORT_READY_KEY)
    if ready is not None and ready[0] != usage_filter:  # written for another period or person
        st.session_state.pop(EXPORT_READY_KEY, None)
        ready = None
    if ready is None:
        prepare = st.button(f"Prepare {rows:,} rows as CSV", key=EXPORT_KEY, icon=":material/table_view:",
                            disabled=too_big or rows == 0)
        if too_big:
            st.caption(f"Exports are limited to {MAX_EXPORT_ROWS:,} rows: pick a shorter period or one user.")
            return
        st.caption("Every attempt in the period, one row each, with prompts, settings, timings and errors.")
        if not prepare:
            return
        data = _csv_with_progress(Usage(get_studio()), user.id, usage_filter, rows)
        ready = (usage_filter, data)
        st.session_state[EXPORT_READY_KEY] = ready
    st.download_button(
        f"Download the CSV ({len(ready[1]) / 1_000_000:,.1f} MB)" if len(ready[1]) >= 100_000
        else "Download the CSV",
        data=ready[1],
        file_name=f"akari-usage-{usage_filter.date_from}-{usage_filter.date_to}.csv",
        mime="text/csv",
        key=EXPORT_DOWNLOAD_KEY,
        icon=":material/download:",
        type="primary",
        on_click="ignore",
    )


def _csv_with_progress(usage: Usage, viewer_id: int, usage_filter: UsageFilter, rows: int) -> bytes:
    bar = st.progress(0.0, text=f"Writing 0 of {rows:,} rows…")
    data = _csv_bytes(usage, viewer_id, usage_filter, lambda done: bar.progress(
        min(done / rows, 1.0) if rows else 1.0, text=f"Writing {min(done, rows):,} of {rows:,} rows…"))
    bar.progress(1.0, text=f"{rows:,} rows written.")
    return data


def _csv_bytes(usage: Usage, viewer_id: int, usage_filter: UsageFilter,
               progress: Callable[[int], object] | None = None) -> bytes:
    """The log read in chunks and encoded as it goes; `progress` hears the rows written so far."""
    out = bytearray()
    try:
        for index, chunk in enumerate(csv_chunks(usage, _Viewer(viewer_id), usage_filter)):
            out += chunk.encode()
            if progress is not None and index:
                progress(index * CSV_CHUNK_ROWS)
    except AkariError as exc:
        return exc.message.encode()
    return bytes(out)
