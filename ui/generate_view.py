"""The Generate page: a form that never blocks, the person's queue, and a feed of results that fills as jobs finish."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

import streamlit as st

from akari.db.models import utcnow
from akari.errors import AkariError
from akari.feed import Batch, recent_batches
from akari.generation import MAX_BATCH
from akari.imaging import MIME_TYPES
from akari.models_catalog import CATALOG
from akari.naming import download_name, image_format
from akari.prompts import (
    DEFAULT_STEPS,
    MAX_PROMPT_CHARS,
    MAX_SEED,
    MAX_STEPS,
    MIN_STEPS,
    STYLE_PRESETS,
    GenerationRequest,
    apply_style,
    clean_prompt,
)
from akari.records import GenerationRecord
from ui.context import get_studio
from ui.images import show_image
from ui.model_form import apply_model_form, reuse_settings, settings_summary, show_model_form
from ui.text import plain

# Widget keys (the gallery pre-fills the prompt, steps and seed) and the page's own state.
PROMPT_KEY = "gen_prompt"
STEPS_KEY = "gen_steps"
SEED_KEY = "gen_seed"
PUBLIC_KEY = "gen_public"
STYLE_KEY = "gen_style"
COUNT_KEY = "gen_count"
SUBMIT_KEY = "gen_submit"
LAST_BATCH_KEY = "gen_last_batch"  # ids of the last accepted submit
SUBMIT_ERROR_KEY = "gen_submit_error"  # (reason, message) of a refused submit, shown once

NO_STYLE = "None"
POLL_SECONDS = 1.0
FEED_ROWS = 24
OFFLINE_LABEL = "Offline sketch — not AI output"
GALLERY_PAGE = "pages/gallery.py"
# Widget values outlive a visit to another page, so a half-written prompt is still there on return.
PERSIST = "session"


@dataclass(frozen=True)
class ErrorStyle:
    title: str
    icon: str
    advice: str


# Each failure reads differently. The core's message says what happened and what to do; the title names the kind of
# failure at a glance and the note adds what the user may wonder next (was it counted? whose problem is it?).
NOT_COUNTED = "This attempt does not count against your daily limit."
SERVER_SIDE = "This is a server setting, not something you did."
TRY_AGAIN = "Press Variations or Generate to try again. "
ERROR_STYLES: dict[str, ErrorStyle] = {
    "invalid_input": ErrorStyle("Check your prompt", ":material/edit_note:", "Nothing was generated or counted."),
    "quota": ErrorStyle("Daily limit reached", ":material/data_usage:", "Nothing was generated."),
    "neuron_quota": ErrorStyle("Daily neuron limit reached", ":material/battery_alert:", "Nothing was generated."),
    "forbidden": ErrorStyle("Account disabled", ":material/block:", "Nothing was generated."),
    "safety_filter": ErrorStyle("Refused by the safety filter", ":material/shield:", NOT_COUNTED),
    "daily_allocation": ErrorStyle(
        "The studio's daily image allowance is used up",
        ":material/hourglass_bottom:",
        "The allowance is shared by everyone using this studio. " + NOT_COUNTED,
    ),
    "auth": ErrorStyle("The image service refused the studio's credentials", ":material/key_off:", SERVER_SIDE),
    "capacity": ErrorStyle("The image service is busy", ":material/traffic:", TRY_AGAIN + NOT_COUNTED),
    "timeout": ErrorStyle("The image service took too long", ":material/timer:", TRY_AGAIN + NOT_COUNTED),
    "network": ErrorStyle("The image service could not be reached", ":material/wifi_off:", TRY_AGAIN + NOT_COUNTED),
    "prompt_too_large": ErrorStyle("Prompt too long for the image service", ":material/content_cut:", NOT_COUNTED),
    "account_blocked": ErrorStyle("The studio's Cloudflare account is blocked", ":material/lock:", SERVER_SIDE),
    "model_unavailable": ErrorStyle("The image model is not available", ":material/extension_off:", SERVER_SIDE),
    "interrupted": ErrorStyle("Interrupted", ":material/power_off:", NOT_COUNTED),
    "cancelled": ErrorStyle("Cancelled", ":material/cancel:", "It was cancelled before it started. " + NOT_COUNTED),
}
DEFAULT_ERROR = ErrorStyle(
    "The image could not be made", ":material/error:", "If it keeps failing, tell your administrator. " + NOT_COUNTED
)


def mime_type(record: GenerationRecord) -> str:
    return MIME_TYPES.get(image_format(record), "application/octet-stream")


def prefill(prompt: str, steps: int = DEFAULT_STEPS, seed: int | None = None, is_public: bool | None = None) -> None:
    """Put settings into the form ("Reuse settings" here and in the gallery). Call before the widgets render."""
    state = st.session_state
    state[PROMPT_KEY] = prompt
    # A stored prompt already has its style applied: adding a style again would double it.
    state[STYLE_KEY] = NO_STYLE
    state[STEPS_KEY] = steps
    state[SEED_KEY] = seed
    if is_public is not None:
        state[PUBLIC_KEY] = is_public


def _init_form_state() -> None:
    """Defaults through session state, not `value=`: a value pre-filled by another page then wins without a warning."""
    state = st.session_state
    state.setdefault(PROMPT_KEY, "")
    state.setdefault(STEPS_KEY, DEFAULT_STEPS)
    state.setdefault(SEED_KEY, None)
    state.setdefault(PUBLIC_KEY, False)
    state.setdefault(STYLE_KEY, NO_STYLE)
    state.setdefault(COUNT_KEY, 1)
    # Values set from elsewhere are checked here so a bad pre-fill cannot break the widgets.
    steps = state[STEPS_KEY]
    if isinstance(steps, bool) or not isinstance(steps, int) or not MIN_STEPS <= steps <= MAX_STEPS:
        state[STEPS_KEY] = DEFAULT_STEPS
    seed = state[SEED_KEY]
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED):
        state[SEED_KEY] = None
    if state[STYLE_KEY] not in STYLE_PRESETS:
        state[STYLE_KEY] = NO_STYLE
    if state[COUNT_KEY] not in range(1, MAX_BATCH + 1):
        state[COUNT_KEY] = 1


# -- submitting ------------------------------------------------------------------------------------------------------
def build_request() -> tuple[GenerationRequest, int]:
    """The request the form's widgets describe, and how many images of it: the one place that reads them."""
    state = st.session_state
    prompt = apply_style(clean_prompt(state.get(PROMPT_KEY)), state.get(STYLE_KEY, NO_STYLE))
    request = GenerationRequest(
        prompt=prompt,
        steps=state.get(STEPS_KEY, DEFAULT_STEPS),
        seed=state.get(SEED_KEY),
        is_public=bool(state.get(PUBLIC_KEY, False)),
    )
    # The model, its inputs and reference image (ui/model_form.py).
    return apply_model_form(request), int(state.get(COUNT_KEY) or 1)


def _send(user_id: int, request: GenerationRequest, count: int) -> None:
    """Queue the batch; the form stays free for the next one. A refusal is kept to be shown once, in words."""
    state = st.session_state
    state.pop(SUBMIT_ERROR_KEY, None)
    try:
        state[LAST_BATCH_KEY] = get_studio().generations.submit_batch(user_id, request, count)
    except AkariError as exc:
        state[SUBMIT_ERROR_KEY] = (exc.reason, exc.message)


def _submit(user_id: int) -> None:
    """Button callback: runs before the widgets render."""
    try:
        request, count = build_request()
    except AkariError as exc:
        st.session_state[SUBMIT_ERROR_KEY] = (exc.reason, exc.message)
        return
    _send(user_id, request, count)


def _variations(user_id: int, batch: Batch) -> None:
    """The same prompt, model and inputs again, as many images as that batch had, each with a new seed."""
    _send(user_id, replace(again_request(batch.first), seed=None), len(batch.records))


def again_request(record: GenerationRecord) -> GenerationRequest:
    """The request a generation was made with (model, size, guidance, negative prompt, its reference image)."""
    settings = record.reuse_settings()
    spec = CATALOG.get(record.model or "")
    if spec is None:  # an offline sketch or a retired model: today's default model
        settings.update(model=None, width=None, height=None, guidance=None, negative_prompt=None, reference_of=None)
    else:  # only what this model takes (a recorded size or step count is not an input of every model)
        if not spec.takes_size:
            settings.update(width=None, height=None)
        if spec.steps is None:
            settings["steps"] = None
        if spec.guidance is None:
            settings["guidance"] = None
        if not spec.negative_prompt:
            settings["negative_prompt"] = None
        if not spec.takes_reference:
            settings["reference_of"] = None
    return GenerationRequest(**settings)  # type: ignore[arg-type]


def _reuse_settings(record: GenerationRecord) -> None:
    """Into the form, seed, model and inputs included (the same settings make the same image); nothing is made."""
    prefill(record.prompt, record.steps, record.seed, record.is_public)
    reuse_settings(record)


def _random_seed() -> None:
    st.session_state[SEED_KEY] = None


def _cancel(user_id: int, generation_id: int) -> None:
    try:
        get_studio().generations.cancel(user_id, generation_id)
    except AkariError as exc:
        st.toast(plain(exc.message), icon=":material/info:")


# -- the form --------------------------------------------------------------------------------------------------------
def show_error(reason: str | None, message: str | None) -> None:
    style = ERROR_STYLES.get(reason or "", DEFAULT_ERROR)
    body = plain(message or "Something went wrong.")
    st.error(f"**{style.title}**  \n{body}  \n{plain(style.advice)}", icon=style.icon)


def show_quota(user_id: int) -> int:
    """The "left today" meter; returns how many generations are left."""
    usage = get_studio().quotas.daily_usage(user_id)
    quota, left = usage.quota, usage.left
    noun = "generation" if quota == 1 else "generations"
    st.progress(left / quota if quota > 0 else 0.0, text=f"**{left}** of {quota} {noun} left today")
    return left


def _prompt_length_notice() -> None:
    """The widget takes any length (a hard limit there would cut a paste silently); the core refuses too long."""
    length = len((st.session_state.get(PROMPT_KEY) or "").strip())
    if length > MAX_PROMPT_CHARS:
        st.warning(f"Your prompt is {length:,} characters long; the limit is {MAX_PROMPT_CHARS:,}. "
                   f"Shorten it by {length - MAX_PROMPT_CHARS:,} characters.", icon=":material/content_cut:")


def _settings_summary(offline: bool) -> str:
    state = st.session_state
    seed = state[SEED_KEY]
    label, steps, dollars = settings_summary()
    parts = [
        label,
        f"{steps} step" + ("s" if steps != 1 else ""),
        "random seed" if seed is None else f"seed {seed}",
        "shared" if state[PUBLIC_KEY] else "private",
    ]
    if state[STYLE_KEY] != NO_STYLE:
        parts.insert(0, state[STYLE_KEY])
    if not offline:
        parts.append(f"≈ ${dollars:.4f} an image")
    return " · ".join(parts)


def _settings(offline: bool, user_id: int) -> None:
    """The model and its inputs with their cost, style, seed and sharing; tucked in a popover so the feed stays in
    view on a phone (the line under the controls sums them up)."""
    show_model_form(offline, user_id)  # model, only its inputs, steps and the cost estimate (ui/model_form.py)
    st.selectbox("Style", list(STYLE_PRESETS), key=STYLE_KEY, persist_state=PERSIST,
                 help="Styles are words added around your prompt; the model has no style setting of its own.")
    with st.container(horizontal=True, vertical_alignment="bottom", gap="small"):
        # value=None: an emptied field means a random seed (the default "min" would turn it into 0 for ever).
        st.number_input("Seed", min_value=0, max_value=MAX_SEED, value=None, step=1, key=SEED_KEY,
                        placeholder="Random", persist_state=PERSIST,
                        help="Leave empty for a new image each time; fix a number to reproduce an image.")
        st.button("", key="gen_seed_random", icon=":material/casino:", help="Back to a random seed",
                  on_click=_random_seed)
    st.toggle("Share to community", key=PUBLIC_KEY, persist_state=PERSIST,
              help="Shared images appear in everyone's community gallery. Private by default.")


def show_form(user_id: int, left: int) -> None:
    """Prompt, how many images, the settings, and Generate: never disabled while earlier jobs run."""
    _init_form_state()
    backends = get_studio().backends
    st.text_area(
        "Prompt",
        key=PROMPT_KEY,
        height=110,
        placeholder="A lighthouse on a cliff at dusk, waves crashing, warm light in the windows…",
        help=f"Describe what you want to see: subject, setting, light, mood. Up to {MAX_PROMPT_CHARS:,} characters.",
        persist_state=PERSIST,
    )
    _prompt_length_notice()
    raw_prompt = st.session_state.get(PROMPT_KEY) or ""
    style = st.session_state[STYLE_KEY]
    if style != NO_STYLE and raw_prompt.strip():
        try:
            styled = apply_style(raw_prompt, style)
        except AkariError as exc:  # the style would push the prompt past the limit: say so before the click
            st.warning(plain(exc.message), icon=":material/content_cut:")
        else:
            st.caption("Prompt sent to the model")
            st.code(styled, language=None, wrap_lines=True)

    with st.container(horizontal=True, vertical_alignment="bottom", gap="small", key="gen_controls"):
        st.segmented_control("Images", list(range(1, MAX_BATCH + 1)), key=COUNT_KEY, required=True,
                             persist_state=PERSIST, help="How many images of this prompt, each with its own seed.")
        with st.popover("Settings", icon=":material/tune:", key="gen_settings"):
            _settings(backends.offline, user_id)
    st.caption(_settings_summary(backends.offline))
    st.button(
        "Generate",
        key=SUBMIT_KEY,
        type="primary",
        icon=":material/auto_awesome:",
        width="stretch",
        disabled=left <= 0,
        on_click=_submit,
        args=(user_id,),
    )
    if left <= 0:
        st.caption("You have used today's generations. The count resets at 00:00 UTC.")
    refused = st.session_state.pop(SUBMIT_ERROR_KEY, None)
    if refused:
        show_error(*refused)


# -- the feed --------------------------------------------------------------------------------------------------------
@st.cache_data(max_entries=32, show_spinner=False)
def _image_bytes(generation_id: int, status: str) -> bytes:
    """Full image bytes for Download, cached per generation and status (a pending upload later moves to the store)."""
    studio = get_studio()
    return studio.images.read(studio.generations.get(generation_id))


def _seconds_since(record: GenerationRecord) -> float:
    return max((utcnow() - record.created_at).total_seconds(), 0.0)


def _status_line(record: GenerationRecord) -> str:
    """Where a job stands, in words."""
    if record.status == "queued":
        ahead = get_studio().generations.position(record.id)
        return "Queued, next in line" if ahead == 0 else f"Queued, {ahead} ahead"
    if record.status == "running":
        if record.spool_key:
            return "Made · saving…"
        if record.error_message:  # the provider asked us to wait: "The image service is busy, retrying 2/4"
            return f"{record.error_message} · {_seconds_since(record):.0f} s"
        return f"Generating… {_seconds_since(record):.0f} s"
    if record.status == "pending_upload":
        return "Made · the upload is retried in the background"
    if record.status == "succeeded":
        took = f" in {record.total_ms / 1000:.1f} s" if record.total_ms is not None else ""
        return f"Made{took} · seed {record.seed}"
    return ""


def _tile(user_id: int, record: GenerationRecord) -> None:
    """One image of a batch: the picture as soon as it exists, else where the job stands or why it failed."""
    with st.container(border=True, key=f"gen_tile_{record.id}"):
        if record.spool_key or record.has_image:
            if record.status != "succeeded":
                st.badge("Uploading", icon=":material/cloud_upload:", color="blue")
            show_image(record, "full" if record.status == "succeeded" else "thumb")
        elif record.status in ("queued", "running"):
            with st.container(height=160, vertical_alignment="center", border=False):
                st.markdown(":material/hourglass_top:" if record.status == "queued" else ":material/autorenew:",
                            text_alignment="center", width="stretch")
        else:
            show_error(record.error_reason, record.error_message)
        line = _status_line(record)
        if line:
            st.caption(line)
        if record.status == "queued":
            st.button("Cancel", key=f"gen_cancel_{record.id}", icon=":material/close:", type="tertiary",
                      on_click=_cancel, args=(user_id, record.id))
        elif record.has_image:
            with st.container(horizontal=True, gap="small"):
                st.download_button("", data=partial(_image_bytes, record.id, record.status),
                                   file_name=download_name(record), mime=mime_type(record), on_click="ignore",
                                   key=f"gen_download_{record.id}", icon=":material/download:", help="Download")
                st.button("", key=f"gen_reuse_{record.id}", icon=":material/tune:",
                          help=f"Reuse settings: this prompt, {record.steps} steps and seed {record.seed} in the form",
                          on_click=_reuse_settings, args=(record,))
                if st.button("", key=f"gen_open_{record.id}", icon=":material/open_in_full:",
                             help="Open in the gallery"):
                    st.switch_page(GALLERY_PAGE, query_params={"id": str(record.id)})


def _batch(user_id: int, batch: Batch) -> None:
    first = batch.first
    with st.container(border=True, key=f"gen_batch_{first.id}"):
        st.text(first.prompt if len(first.prompt) <= 240 else first.prompt[:239] + "…")
        if first.is_offline_sketch:
            st.badge(OFFLINE_LABEL, icon=":material/draw:", color="orange")
        columns = st.columns(2 if len(batch.records) > 1 else 1, gap="small")
        for index, record in enumerate(batch.records):
            with columns[index % len(columns)]:
                _tile(user_id, record)
        with st.container(horizontal=True, gap="small"):
            st.button("Variations", key=f"gen_variations_{first.id}", icon=":material/shuffle:",
                      help=f"{len(batch.records)} more of this prompt, each with a new seed",
                      on_click=_variations, args=(user_id, batch))
            st.button("Reuse settings", key=f"gen_reuse_batch_{first.id}", icon=":material/tune:",
                      help="Put this prompt, its steps and its first seed into the form",
                      on_click=_reuse_settings, args=(first,))


def _feed(user_id: int, polling: bool) -> None:
    batches = recent_batches(get_studio().sessions, user_id, FEED_ROWS)
    if polling and not any(batch.active for batch in batches):
        st.rerun()  # all done: one full run stops the polling and brings the rest of the page up to date
    if not batches:
        with st.container(border=True, height=320, vertical_alignment="center"):
            st.markdown("## :material/image:", text_alignment="center", width="stretch", anchors=False)
            st.markdown("**Your images will appear here**", text_alignment="center", width="stretch")
            st.caption("Write a prompt and press Generate. You can queue more while they are made.",
                       text_alignment="center")
        return
    queued = sum(record.status in ("queued", "running") for batch in batches for record in batch.records)
    if queued:
        st.caption(f"{queued} in your queue · you can leave this page, they keep being made")
    for batch in batches:
        _batch(user_id, batch)


def show_feed(user_id: int) -> None:
    """Recent results, newest first; polls (a fragment, rerun on its own) only while something is on its way."""
    polling = bool(get_studio().generations.active(user_id, limit=1))
    st.fragment(_feed, run_every=POLL_SECONDS if polling else None)(user_id, polling)


def page(user_id: int) -> None:
    """The whole page for a signed-in user."""
    head_col, quota_col = st.columns([5, 7], gap="large", vertical_alignment="bottom")
    with head_col:
        st.title("Generate")
    with quota_col:
        left = show_quota(user_id)
    form_col, feed_col = st.columns([5, 7], gap="large")
    with form_col:
        show_form(user_id, left)
    with feed_col:
        show_feed(user_id)
