"""Model-aware pieces of the Gallery and Usage pages: the filter by model and the usage split by model."""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from akari.errors import AkariError
from akari.gallery import GalleryQuery
from akari.models_catalog import CATALOG, get_model
from akari.usage import ModelUsage, Usage, UsageFilter
from ui.context import get_studio
from ui.text import plain

GALLERY_MODEL_KEY = "model"  # also the address's ?model= (the gallery's filters live in the URL)
ANY_MODEL = "Any model"
CURSORS_KEY = "gallery_cursors"  # the gallery's paging: a new filter starts from the first page
USAGE_CACHE_SECONDS = 10
BY_MODEL_KEY = "usage_by_model"
BY_MODEL_CSS = (f"<style>@media (max-width: 640px) {{ .st-key-{BY_MODEL_KEY} table {{ table-layout: fixed; "
                "width: 100% !important; min-width: 0 !important; font-size: 0.7rem; } "
                f".st-key-{BY_MODEL_KEY} th, .st-key-{BY_MODEL_KEY} td {{ overflow-wrap: anywhere; "
                "word-break: break-word; padding: 0.2rem !important; white-space: normal !important; } }</style>")


def _reset_paging() -> None:
    st.session_state[CURSORS_KEY] = [None]


def model_chip(query: GalleryQuery) -> tuple[str, str, object] | None:
    """The gallery's removable chip for the model filter: (widget key, words, cleared value)."""
    if not query.model or query.model not in CATALOG:
        return None
    return GALLERY_MODEL_KEY, f"Model: {get_model(query.model).label}", ANY_MODEL


def pick_model() -> str | None:
    """The gallery's model picker (inside its Filters); the model id picked, None for every model."""
    choice = st.selectbox("Model", [ANY_MODEL, *CATALOG], key=GALLERY_MODEL_KEY, on_change=_reset_paging,
                          format_func=lambda m: m if m == ANY_MODEL else get_model(m).label, bind="query-params")
    return None if choice in (None, ANY_MODEL) else choice


@st.cache_data(ttl=USAGE_CACHE_SECONDS, show_spinner=False, max_entries=256)
def _by_model(viewer_id: int, date_from: date, date_to: date, user_id: int | None) -> list[ModelUsage]:
    return Usage(get_studio()).by_model(_Viewer(viewer_id), UsageFilter(date_from, date_to, user_id))


class _Viewer:
    def __init__(self, viewer_id: int) -> None:
        self.id = viewer_id


def show_model_split(viewer_id: int, usage_filter: UsageFilter) -> None:
    """Counts, neurons, cost and time to image per model, for the usage page's period and person."""
    st.subheader("By model")
    try:
        rows = _by_model(viewer_id, usage_filter.date_from, usage_filter.date_to, usage_filter.user_id)
    except AkariError as exc:
        st.error(plain(exc.message))
        return
    if not rows:
        st.caption("No generations in this period.")
        return
    table = pd.DataFrame([{
        "Model": r.label,
        "Generations": r.generations,
        "Succeeded": r.succeeded,
        "Failed": r.failed,
        "Neurons": f"{r.neurons:,.1f}",
        "Cost": f"${r.dollars:.5f}",
        "Average time to image": "–" if r.average_ms is None else f"{r.average_ms / 1000:.2f} s",
        "95th percentile": "–" if r.p95_ms is None else f"{r.p95_ms / 1000:.2f} s",
    } for r in rows])
    # A few rows: a plain table. On a phone its eight columns share the screen's width (cells wrap) instead of
    # running off to the right.
    st.html(BY_MODEL_CSS)
    with st.container(key=BY_MODEL_KEY):
        st.table(table.set_index("Model"))
