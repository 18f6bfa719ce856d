"""The Usage page's source filter: all generations, or only those asked for on the pages, over the API or the CLI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date

import streamlit as st

from akari.usage import Usage, UsageFilter, UsageReport
from ui.context import get_studio

SOURCE_KEY = "usage_source"
SOURCE_LABELS = {"ui": "Pages", "api": "HTTP API", "cli": "Command line"}
CACHE_SECONDS = 30


@dataclass(frozen=True)
class _Viewer:
    id: int


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False, max_entries=256)
def _report(viewer_id: int, date_from: date, date_to: date, user_id: int | None, source: str | None) -> UsageReport:
    return Usage(get_studio()).report(_Viewer(viewer_id), UsageFilter(date_from, date_to, user_id, source))


def pick_source() -> str | None:
    """The source picker; None when none is picked (every source)."""
    return st.segmented_control("Source", list(SOURCE_LABELS), format_func=SOURCE_LABELS.get, key=SOURCE_KEY,
                                help="Where the generations were asked for; none picked: all of them.")


def sourced_report(all_sources: Callable[[int, date, date, int | None], UsageReport], viewer_id: int,
                   usage_filter: UsageFilter, source: str | None) -> UsageReport:
    """The figures of the filter narrowed to a source; with none, the page's own (cached) report of every source."""
    if source is None:
        return all_sources(viewer_id, usage_filter.date_from, usage_filter.date_to, usage_filter.user_id)
    narrowed = replace(usage_filter, source=source)
    return _report(viewer_id, narrowed.date_from, narrowed.date_to, narrowed.user_id, narrowed.source)
