"""The Usage page's pieces: range and user pickers, headline numbers, charts and the CSV export."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial

import altair as alt
import pandas as pd
import streamlit as st

from akari.accounts import CurrentUser
from akari.errors import AkariError
from akari.quota import start_of_day_utc
from akari.usage import Usage, UsageFilter, UsageReport
from akari.usage_log import csv_chunks
from ui.context import get_studio
from ui.model_views import show_model_split
from ui.text import plain
from ui.usage_source import sourced_report

# Widget keys (tests address widgets by these).
RANGE_KEY = "usage_range"
DATES_KEY = "usage_dates"
USER_KEY = "usage_user"
EXPORT_KEY = "usage_export"

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
    st.title("Usage")
    usage_filter = _filters(user)
    if usage_filter is None:
        return
    try:
        report = sourced_report(usage_report, user.id, usage_filter)
    except AkariError as exc:
        st.error(plain(exc.message))
        return
    _headline(report)
    _charts(report)
    show_model_split(user.id, usage_filter)  # counts, neurons, cost and time by model (ui/model_views.py)
    _export(user, report)


def _filters(user: CurrentUser) -> UsageFilter | None:
    today = start_of_day_utc().date()
    columns = st.columns([3, 2, 2] if user.is_admin else [3, 2], vertical_alignment="bottom")
    with columns[0]:
        picked = st.segmented_control("Period", list(RANGES), default="30 days", required=True, key=RANGE_KEY)
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


def _headline(report: UsageReport) -> None:
    h = report.headline
    cols = st.columns(4)
    cols[0].metric("Generations", f"{h.generations:,}", border=True)
    cols[1].metric("Success rate", "–" if h.success_rate is None else f"{h.success_rate:.1%}", border=True,
                   help="Images made out of attempts that finished.")
    cols[2].metric("Median time to image", _seconds(h.median_ms), border=True,
                   help="From the request to the stored image, to the nearest 0.1 s.")
    cols[3].metric("95th percentile", _seconds(h.p95_ms), border=True,
                   help="95 in 100 images arrived at least this fast.")
    today = f"{h.today_used:,}" if h.today_quota is None else f"{h.today_used:,} / {h.today_quota:,}"
    costs = [
        ("Estimated neurons", f"{h.neurons:,.0f}", "Workers AI pricing: 4.8 neurons per 512×512 tile plus 9.6 per "
                                                   "step. Offline sketches cost nothing."),
        ("Estimated cost", f"${h.dollars:,.2f}", "At $0.011 per 1,000 neurons."),
    ]
    if h.billable_dollars is not None:
        costs.append(("After the free allowance", f"${h.billable_dollars:,.2f}",
                      "The account's first 10,000 neurons each day are free."))
    costs.append(("Today" if h.today_quota is None else "Today's quota used", today, "Generations since 00:00 UTC."))
    for column, (label, value, help_text) in zip(st.columns(4), costs, strict=False):
        column.metric(label, value, border=True, help=help_text)


def _charts(report: UsageReport) -> None:
    if not report.headline.generations:
        st.info("No generations in this period.", icon=":material/bar_chart:")
        return
    st.subheader("Generations per day")
    per_day = pd.DataFrame(
        [{"day": r.day, "status": STATUS_LABELS.get(r.status, r.status), "generations": r.generations}
         for r in report.per_day]
    )
    colours = alt.Scale(domain=[STATUS_LABELS[s] for s in STATUS_COLOURS], range=list(STATUS_COLOURS.values()))
    st.altair_chart(
        alt.Chart(per_day).mark_bar().encode(
            x=alt.X("day:T", title=None),
            y=alt.Y("sum(generations):Q", title="Generations"),
            color=alt.Color("status:N", scale=colours, title=None),
            tooltip=["day:T", "status:N", "generations:Q"],
        ),
        width="stretch",
        key="usage_chart_per_day",
    )
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
                    y=alt.Y("images:Q", title="Images"),
                    tooltip=["from_s:Q", "to_s:Q", "images:Q"],
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
                    x=alt.X("failures:Q", title="Failures"),
                    y=alt.Y("reason:N", sort="-x", title=None),
                    tooltip=["reason:N", "failures:Q"],
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
                y=alt.Y("generations:Q", title="Generations"),
                tooltip=["steps:O", "generations:Q", alt.Tooltip("neurons:Q", format=",.0f")],
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
                    x=alt.X("generations:Q", title="Generations"),
                    y=alt.Y("user:N", sort="-x", title=None),
                    color=alt.Color("status:N", title=None,
                                    scale=alt.Scale(domain=["succeeded", "failed", "other"],
                                                    range=[STATUS_COLOURS["succeeded"], STATUS_COLOURS["failed"],
                                                           STATUS_COLOURS["queued"]])),
                    tooltip=["user:N", "status:N", "generations:Q"],
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
    st.subheader("Generation log")
    rows = report.headline.generations
    usage_filter = report.filter
    name = f"akari-usage-{usage_filter.date_from}-{usage_filter.date_to}.csv"
    too_big = rows > MAX_EXPORT_ROWS
    st.download_button(
        f"Download {rows:,} rows as CSV",
        data=partial(_csv_bytes, Usage(get_studio()), user.id, usage_filter),
        file_name=name,
        mime="text/csv",
        key=EXPORT_KEY,
        icon=":material/download:",
        disabled=too_big or rows == 0,
        on_click="ignore",
    )
    if too_big:
        st.caption(f"Exports are limited to {MAX_EXPORT_ROWS:,} rows: pick a shorter period or one user.")
    else:
        st.caption("Every attempt in the period, one row each, with prompts, settings, timings and errors.")


def _csv_bytes(usage: Usage, viewer_id: int, usage_filter: UsageFilter) -> bytes:
    """Runs when the button is pressed, on its own thread: the log is read in chunks and encoded as it goes."""
    out = bytearray()
    try:
        for chunk in csv_chunks(usage, _Viewer(viewer_id), usage_filter):
            out += chunk.encode()
    except AkariError as exc:
        return exc.message.encode()
    return bytes(out)
