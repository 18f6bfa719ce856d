"""The Generate page's pieces: the form, submission, progress, the result and its actions."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import streamlit as st

from akari.db.models import utcnow
from akari.errors import AkariError
from akari.history import recent_prompts
from akari.imaging import MIME_TYPES
from akari.naming import download_name, image_format
from akari.pricing import dollars_for, neurons_for
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
from ui.model_form import apply_model_form, reuse_settings, show_model_form
from ui.text import plain

# Widget keys (the gallery pre-fills the first three) and the page's own state.
PROMPT_KEY = "gen_prompt"
STEPS_KEY = "gen_steps"
SEED_KEY = "gen_seed"
PUBLIC_KEY = "gen_public"
STYLE_KEY = "gen_style"
SUBMIT_KEY = "gen_submit"
GENERATION_KEY = "gen_generation_id"  # the generation on show; survives page switches
SUBMIT_ERROR_KEY = "gen_submit_error"  # (reason, message) of a refused submit, shown once

NO_STYLE = "None"
POLL_SECONDS = 0.5
RECENT_LIMIT = 8
COST_HELP = (
    "Cloudflare Workers AI bills FLUX.1 [schnell] in neurons: 4.8 per 512×512 tile plus 9.6 per step. "
    "10,000 neurons a day are free."
)
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
ERROR_STYLES: dict[str, ErrorStyle] = {
    "invalid_input": ErrorStyle("Check your prompt", ":material/edit_note:", "Nothing was generated or counted."),
    "quota": ErrorStyle("Daily limit reached", ":material/data_usage:", "Nothing was generated."),
    "forbidden": ErrorStyle("Account disabled", ":material/block:", "Nothing was generated."),
    "safety_filter": ErrorStyle("Refused by the safety filter", ":material/shield:", NOT_COUNTED),
    "daily_allocation": ErrorStyle(
        "The studio's daily image allowance is used up",
        ":material/hourglass_bottom:",
        "The allowance is shared by everyone using this studio. " + NOT_COUNTED,
    ),
    "auth": ErrorStyle("The image service refused the studio's credentials", ":material/key_off:", SERVER_SIDE),
    "capacity": ErrorStyle("The image service is busy", ":material/traffic:", "Press Run again. " + NOT_COUNTED),
    "timeout": ErrorStyle("The image service took too long", ":material/timer:", "Press Run again. " + NOT_COUNTED),
    "network": ErrorStyle(
        "The image service could not be reached", ":material/wifi_off:", "Press Run again. " + NOT_COUNTED
    ),
    "prompt_too_large": ErrorStyle("Prompt too long for the image service", ":material/content_cut:", NOT_COUNTED),
    "account_blocked": ErrorStyle("The studio's Cloudflare account is blocked", ":material/lock:", SERVER_SIDE),
    "model_unavailable": ErrorStyle("The image model is not available", ":material/extension_off:", SERVER_SIDE),
    "interrupted": ErrorStyle("Interrupted", ":material/power_off:", NOT_COUNTED),
}
DEFAULT_ERROR = ErrorStyle(
    "The image could not be made", ":material/error:", "If it keeps failing, tell your administrator. " + NOT_COUNTED
)


def mime_type(record: GenerationRecord) -> str:
    return MIME_TYPES.get(image_format(record), "application/octet-stream")


def prefill(prompt: str, steps: int = DEFAULT_STEPS, seed: int | None = None, is_public: bool | None = None) -> None:
    """Put settings into the form (for "run again" and the gallery). Call before the widgets render."""
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
    # Values set from elsewhere are checked here so a bad pre-fill cannot break the widgets.
    steps = state[STEPS_KEY]
    if isinstance(steps, bool) or not isinstance(steps, int) or not MIN_STEPS <= steps <= MAX_STEPS:
        state[STEPS_KEY] = DEFAULT_STEPS
    seed = state[SEED_KEY]
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED):
        state[SEED_KEY] = None
    if state[STYLE_KEY] not in STYLE_PRESETS:
        state[STYLE_KEY] = NO_STYLE


# -- submitting ------------------------------------------------------------------------------------------------------
def _current(user_id: int) -> GenerationRecord | None:
    """The generation on show, if it still exists and belongs to this user (state may outlive a sign-out)."""
    generation_id = st.session_state.get(GENERATION_KEY)
    if generation_id is None:
        return None
    try:
        record = get_studio().generations.get(generation_id)
    except AkariError:
        record = None
    if record is None or record.user_id != user_id or record.deleted:
        st.session_state.pop(GENERATION_KEY, None)
        return None
    return record


def _submit(user_id: int) -> None:
    """Button callback: runs before the widgets render, so the button is already disabled in the same run."""
    state = st.session_state
    state.pop(SUBMIT_ERROR_KEY, None)
    current = _current(user_id)
    if current is not None and not current.is_done:
        return  # a second click while one is running
    try:
        prompt = apply_style(clean_prompt(state.get(PROMPT_KEY)), state.get(STYLE_KEY, NO_STYLE))
        request = GenerationRequest(
            prompt=prompt,
            steps=state.get(STEPS_KEY, DEFAULT_STEPS),
            seed=state.get(SEED_KEY),
            is_public=bool(state.get(PUBLIC_KEY, False)),
        )
        state[GENERATION_KEY] = get_studio().generations.submit(user_id, apply_model_form(request))
    except AkariError as exc:
        state[SUBMIT_ERROR_KEY] = (exc.reason, exc.message)


def _run_again(user_id: int, record: GenerationRecord) -> None:
    prefill(record.prompt, record.steps, record.seed, record.is_public)
    reuse_settings(record)  # the same model and inputs too (ui/model_form.py)
    _submit(user_id)


def _keep_seed(seed: int) -> None:
    st.session_state[SEED_KEY] = seed


def _random_seed() -> None:
    st.session_state[SEED_KEY] = None


def _reuse(prompt: str) -> None:
    st.session_state[PROMPT_KEY] = prompt
    st.session_state[STYLE_KEY] = NO_STYLE


# -- showing ---------------------------------------------------------------------------------------------------------
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


def show_cost(steps: int, offline: bool) -> None:
    neurons = neurons_for(steps)
    st.markdown(f"**{neurons:g}** neurons")
    note = "free offline" if offline else "per image"
    st.caption(f"≈ ${dollars_for(neurons):.5f} · {note}")


def show_form(user_id: int, left: int, busy: bool) -> None:
    """Prompt, style, steps with their cost, seed, sharing, and the Generate button."""
    _init_form_state()
    backends = get_studio().backends
    st.text_area(
        "Prompt",
        key=PROMPT_KEY,
        max_chars=MAX_PROMPT_CHARS,
        height=140,
        placeholder="A lighthouse on a cliff at dusk, waves crashing, warm light in the windows…",
        help="Describe what you want to see: subject, setting, light, mood.",
        persist_state=PERSIST,
    )
    style = st.selectbox(
        "Style",
        list(STYLE_PRESETS),
        key=STYLE_KEY,
        help="Styles are words added around your prompt; the model has no style setting of its own.",
        persist_state=PERSIST,
    )
    raw_prompt = st.session_state.get(PROMPT_KEY) or ""
    if style != NO_STYLE and raw_prompt.strip():
        try:
            styled = apply_style(raw_prompt, style)
        except AkariError as exc:  # the style would push the prompt past the limit: say so before the click
            st.warning(plain(exc.message), icon=":material/content_cut:")
        else:
            st.caption("Prompt sent to the model")
            st.code(styled, language=None, wrap_lines=True)

    show_model_form(backends.offline, user_id)  # model, its inputs, steps and the cost estimate (ui/model_form.py)

    with st.container(horizontal=True, vertical_alignment="bottom", gap="small"):
        st.number_input(
            "Seed",
            min_value=0,
            max_value=MAX_SEED,
            step=1,
            key=SEED_KEY,
            placeholder="Random",
            help="Leave empty for a new image each time; fix a number to reproduce an image.",
            persist_state=PERSIST,
        )
        st.button("", key="gen_seed_random", icon=":material/casino:", help="Back to a random seed",
                  on_click=_random_seed)
    st.toggle(
        "Share to community",
        key=PUBLIC_KEY,
        help="Shared images appear in everyone's community gallery. Private by default.",
        persist_state=PERSIST,
    )

    st.space("small")
    st.button(
        "Generating…" if busy else "Generate",
        key=SUBMIT_KEY,
        type="primary",
        icon=":material/auto_awesome:",
        width="stretch",
        disabled=busy or left <= 0,
        on_click=_submit,
        args=(user_id,),
    )
    if left <= 0:
        st.caption("You have used today's generations. The count resets at 00:00 UTC.")
    where = backends.store.split(" (", 1)[0]
    if backends.offline:
        st.caption(f":material/draw: Offline sketches, not AI · saved to {where}")
    else:
        st.caption(f":material/bolt: {backends.generator} · saved to {where}")


def show_recent(user_id: int) -> None:
    prompts = recent_prompts(get_studio().sessions, user_id, RECENT_LIMIT)
    with st.expander("Recent prompts", expanded=bool(prompts), icon=":material/history:"):
        if not prompts:
            st.caption("Your prompts will appear here for one-click reuse.")
        for i, prompt in enumerate(prompts):
            text_col, use_col = st.columns([6, 1], vertical_alignment="center")
            first_line = prompt.splitlines()[0] if prompt.strip() else prompt
            short = first_line if len(first_line) <= 90 else first_line[:89] + "…"
            with text_col:
                st.text(short)
            with use_col:
                st.button("Use", key=f"recent_{i}", type="tertiary", on_click=_reuse, args=(prompt,))


@st.cache_data(max_entries=32, show_spinner=False)
def _image_bytes(generation_id: int, status: str) -> bytes:
    """Full image bytes, cached per generation and status (a pending upload later moves to the store)."""
    studio = get_studio()
    return studio.images.read(studio.generations.get(generation_id))


@st.fragment(run_every=POLL_SECONDS)
def _progress(generation_id: int) -> None:
    """Polls the row; once the job is done the whole page reruns to show the result and re-enable the button."""
    record = get_studio().generations.get(generation_id)
    if record.is_done:
        st.rerun()
    elapsed = max((utcnow() - record.created_at).total_seconds(), 0.0)
    if record.status == "queued":
        ahead = get_studio().generations.position(generation_id)
        label = "Queued, next in line" if ahead == 0 else f"Queued, {ahead} ahead of you"
    else:
        label = "Generating…"
    # Not used as a context manager: leaving the `with` block would mark the status complete.
    status = st.status(f"{label} · {elapsed:.0f} s", state="running", expanded=True)
    status.caption("You can leave this page: the image keeps being made and will be here when you come back.")
    status.text(record.prompt)


def _caption(record: GenerationRecord) -> str:
    parts = [f"#{record.id}", f"seed {record.seed}", f"{record.steps} step" + ("s" if record.steps != 1 else "")]
    if record.total_ms is not None:
        parts.append(f"{record.total_ms / 1000:.1f} s")
    if record.width and record.height:
        parts.append(f"{record.width}×{record.height} {image_format(record).upper()}".strip())
    parts.append(OFFLINE_LABEL if record.is_offline_sketch else record.model.rsplit("/", 1)[-1])
    return " · ".join(parts)


def _actions(user_id: int, record: GenerationRecord) -> None:
    with st.container(horizontal=True, gap="small"):
        if record.has_image:
            st.download_button(
                "Download",
                data=partial(_image_bytes, record.id, record.status),
                file_name=download_name(record),
                mime=mime_type(record),
                key="gen_download",
                icon=":material/download:",
                on_click="ignore",
            )
        st.button("Run again", key="gen_again", icon=":material/replay:", help="Same prompt, steps and seed.",
                  on_click=_run_again, args=(user_id, record))
        st.button("Keep seed", key="gen_keep_seed", icon=":material/push_pin:",
                  help=f"Fix the seed to {record.seed} for the next image.", on_click=_keep_seed, args=(record.seed,))
        if record.has_image and st.button("Open in gallery", key="gen_open_gallery", icon=":material/photo_library:"):
            st.switch_page(GALLERY_PAGE, query_params={"id": str(record.id)})


def show_result(user_id: int, record: GenerationRecord | None) -> None:
    """The right-hand column: empty state, progress, the image or the error."""
    refused = st.session_state.pop(SUBMIT_ERROR_KEY, None)
    if refused:
        show_error(*refused)
    if record is None:
        if not refused:
            with st.container(border=True, height=420, vertical_alignment="center"):
                st.markdown("## :material/image:", text_alignment="center", width="stretch", anchors=False)
                st.markdown("**Your image will appear here**", text_alignment="center", width="stretch")
                st.caption("Write a prompt, pick a style and press Generate.", text_alignment="center")
        return
    if not record.is_done:
        _progress(record.id)
        return
    with st.container(border=True):
        if record.has_image:
            if record.is_offline_sketch:
                st.badge(OFFLINE_LABEL, icon=":material/draw:", color="orange")
            if record.status == "pending_upload":
                st.warning(plain(record.error_message or "The upload will be retried."), icon=":material/cloud_upload:")
            show_image(record, "full")
        else:
            show_error(record.error_reason, record.error_message)
        st.caption(_caption(record))
        st.code(record.prompt, language=None, wrap_lines=True)
        _actions(user_id, record)


def page(user_id: int) -> None:
    """The whole page for a signed-in user."""
    record = _current(user_id)
    busy = record is not None and not record.is_done
    # The same proportions as the columns below: the meter sits over the result.
    head_col, quota_col = st.columns([5, 6], gap="large", vertical_alignment="bottom")
    with head_col:
        st.title("Generate")
        st.caption("Turn a sentence into an image.")
    with quota_col:
        left = show_quota(user_id)
    form_col, result_col = st.columns([5, 6], gap="large")
    with form_col:
        show_form(user_id, left, busy)
        show_recent(user_id)
    with result_col:
        show_result(user_id, record)
