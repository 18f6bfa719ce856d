"""The Generate form's model part: model picker, only the inputs that model takes, aspect presets, a reference image,
negative prompt, steps and the cost estimate; and what "Reuse settings" and "Use as reference" put back in it."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from akari.errors import AkariError
from akari.model_choice import ModelChoice
from akari.models_catalog import ASPECTS, DOLLARS_PER_1000_NEURONS, ModelSpec, get_model
from akari.prompts import GenerationRequest
from akari.records import GenerationRecord
from ui.context import get_studio
from ui.text import plain

MODEL_KEY = "gen_model"
ASPECT_KEY = "gen_aspect"
NEGATIVE_KEY = "gen_negative"
UPLOAD_KEY = "gen_reference_upload"
REFERENCE_FROM_KEY = "gen_reference_from"  # a gallery image to start from (its generation id)
REFERENCE_OF_KEY = "gen_reference_of"  # reuse the reference this generation started from ("Reuse settings")
STEPS_KEY = "gen_steps"  # shared with the Generate view: FLUX.1's slider
GENERATE_PAGE = "pages/generate.py"
PERSIST = "session"  # values outlive a visit to another page, like the rest of the form


def _steps_key(spec: ModelSpec) -> str:
    """FLUX.1 keeps the view's own steps key (the gallery pre-fills it); models with other ranges get their own."""
    return STEPS_KEY if spec.steps is not None and (spec.steps.low, spec.steps.high) == (1, 8) \
        else f"gen_steps::{spec.id}"


def _guidance_key(spec: ModelSpec) -> str:
    return f"gen_guidance::{spec.id}"


def _chosen(enabled: list[ModelSpec], default: ModelSpec) -> ModelSpec:
    ids = [m.id for m in enabled]
    state = st.session_state
    if state.get(MODEL_KEY) not in ids:
        state[MODEL_KEY] = default.id
    return get_model(state[MODEL_KEY])


def show_model_form(offline: bool, user_id: int | None = None) -> ModelSpec:
    """Render the model's inputs (call inside the Generate form, where steps go). Returns the chosen model."""
    enabled, default = ModelChoice(get_studio().sessions).get()
    spec = _chosen(enabled, default)
    state = st.session_state
    if len(enabled) > 1:
        st.selectbox("Model", [m.id for m in enabled], key=MODEL_KEY, format_func=lambda m: get_model(m).label,
                     help="Models differ in what they take, how they draw and what they cost.", persist_state=PERSIST)
    spec = get_model(state[MODEL_KEY])
    if spec.note:
        st.caption(plain(spec.note))
    if spec.takes_size:
        state.setdefault(ASPECT_KEY, "1:1")
        st.segmented_control("Aspect ratio", list(ASPECTS), key=ASPECT_KEY, required=True, persist_state=PERSIST)
    steps = spec.fixed_steps
    if spec.steps is not None:
        key = _steps_key(spec)
        value = state.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not spec.steps.low <= value <= spec.steps.high:
            state[key] = spec.steps.default
        steps = st.slider("Steps", spec.steps.low, spec.steps.high, step=1, key=key,
                          help="More steps give more detail and cost more.", persist_state=PERSIST)
    else:
        st.caption(f"{spec.label} always uses {spec.fixed_steps} steps.")
    if spec.guidance is not None:
        key = _guidance_key(spec)
        state.setdefault(key, spec.guidance.default)
        st.slider("Guidance", spec.guidance.low, spec.guidance.high, step=0.5, key=key,
                  help="How closely the image follows the prompt.", persist_state=PERSIST)
    if spec.negative_prompt:
        st.text_input("Negative prompt", key=NEGATIVE_KEY, placeholder="blurry, text, watermark",
                      help="What the image should not show.", persist_state=PERSIST)
    references = 0
    if spec.takes_reference:
        from_gallery = state.get(REFERENCE_FROM_KEY)
        reused = state.get(REFERENCE_OF_KEY)
        if from_gallery is not None or reused is not None:
            st.caption(f"Starting from gallery image #{from_gallery}." if from_gallery is not None
                       else f"Starting from the reference image of #{reused}.")
            st.button("Don't start from it", key="gen_reference_clear", on_click=_clear_reference)
            references = 1
        else:
            upload = st.file_uploader("Start from an image (optional)", type=["png", "jpg", "jpeg", "webp"],
                                      key=UPLOAD_KEY, help="Its colours and composition guide the new image.")
            references = int(upload is not None)
    width, height = current_size(spec)
    show_estimate(spec, width, height, steps, references, offline)
    if user_id is not None and not offline:
        allowance = get_studio().quotas.daily_neurons(user_id)
        st.caption(f"{allowance.left:,.1f} of today's {allowance.quota:,.0f} neurons left")
    return spec


def current_size(spec: ModelSpec) -> tuple[int, int]:
    return spec.size_for(st.session_state.get(ASPECT_KEY) or "1:1")


def settings_summary() -> tuple[str, int, float]:
    """The chosen model's label, its steps and an image's cost in dollars, for a one-line summary of the form."""
    state = st.session_state
    try:
        spec = get_model(str(state.get(MODEL_KEY)))
    except AkariError:
        _enabled, spec = ModelChoice(get_studio().sessions).get()
    steps = state.get(_steps_key(spec), spec.default_steps) if spec.steps else spec.fixed_steps
    width, height = current_size(spec)
    neurons = spec.neurons(width, height, steps, 0)
    return spec.label, steps, neurons * DOLLARS_PER_1000_NEURONS / 1000


def show_estimate(spec: ModelSpec, width: int, height: int, steps: int, references: int, offline: bool) -> None:
    neurons = spec.neurons(width, height, steps, references)
    dollars = neurons * DOLLARS_PER_1000_NEURONS / 1000
    note = "free offline" if offline else "per image"
    st.markdown(f"**{neurons:,.1f}** neurons · {width}×{height}")
    st.caption(f"≈ ${dollars:.5f} · {note}")


def apply_model_form(request: GenerationRequest) -> GenerationRequest:
    """The request with the model part of the form (call in the Generate button's callback)."""
    state = st.session_state
    model = state.get(MODEL_KEY)
    if model is None:
        return request
    spec = get_model(model)
    width, height = current_size(spec) if spec.takes_size else (None, None)
    upload = state.get(UPLOAD_KEY) if spec.takes_reference else None
    reference_from = state.get(REFERENCE_FROM_KEY) if spec.takes_reference else None
    reference_of = state.get(REFERENCE_OF_KEY) if spec.takes_reference and reference_from is None else None
    return replace(
        request, model=spec.id, width=width, height=height,
        steps=state.get(_steps_key(spec), spec.default_steps) if spec.steps else spec.fixed_steps,
        guidance=state.get(_guidance_key(spec)) if spec.guidance else None,
        negative_prompt=(state.get(NEGATIVE_KEY) or None) if spec.negative_prompt else None,
        reference=upload.getvalue() if upload is not None and reference_from is None and reference_of is None
        else None, reference_from=reference_from, reference_of=reference_of)


def _clear_reference() -> None:
    st.session_state.pop(REFERENCE_FROM_KEY, None)
    st.session_state.pop(REFERENCE_OF_KEY, None)


def reuse_settings(record: GenerationRecord) -> None:
    """Put a generation's model and inputs back in the form (before the widgets render)."""
    state = st.session_state
    settings = record.reuse_settings()
    state["gen_prompt"] = settings["prompt"]
    state["gen_style"] = "None"
    state["gen_seed"] = settings["seed"]
    try:
        spec = get_model(str(settings["model"]))
    except AkariError:
        return  # an offline or retired model: prompt and seed are enough
    state[MODEL_KEY] = spec.id
    state[_steps_key(spec)] = settings["steps"]
    if spec.takes_size and record.width and record.height:
        state[ASPECT_KEY] = min(ASPECTS, key=lambda a: abs(ASPECTS[a][0] / ASPECTS[a][1]
                                                           - record.width / record.height))  # type: ignore[operator]
    if spec.guidance is not None and settings["guidance"] is not None:
        state[_guidance_key(spec)] = settings["guidance"]
    state[NEGATIVE_KEY] = settings["negative_prompt"] or ""
    state.pop(REFERENCE_FROM_KEY, None)
    if settings["reference_of"] is not None:
        state[REFERENCE_OF_KEY] = settings["reference_of"]
    else:
        state.pop(REFERENCE_OF_KEY, None)


def use_as_reference(record: GenerationRecord) -> None:
    """Start the next image from this one, with the first enabled model that takes a reference."""
    state = st.session_state
    state[REFERENCE_FROM_KEY] = record.id
    state.pop(REFERENCE_OF_KEY, None)
    enabled, _default = ModelChoice(get_studio().sessions).get()
    current = state.get(MODEL_KEY)
    if current is None or not get_model(current).takes_reference:
        takers = [m for m in enabled if m.takes_reference]
        if takers:
            state[MODEL_KEY] = takers[0].id


def show_model_details(record: GenerationRecord) -> None:
    """For a detail view: the model and its inputs, and buttons to reuse them or start from this image."""
    inputs = record.inputs()
    st.caption(" · ".join(f"{str(name).replace('_', ' ').capitalize()}: {plain(str(value))}"
                          for name, value in inputs.items()))
    reuse, reference = st.columns(2)
    with reuse:
        if st.button("Reuse settings", key=f"model_reuse_{record.id}", icon=":material/tune:"):
            reuse_settings(record)
            st.switch_page(GENERATE_PAGE)
    with reference:
        if record.has_image and st.button("Use as reference", key=f"model_reference_{record.id}",
                                          icon=":material/imagesearch_roller:"):
            use_as_reference(record)
            st.switch_page(GENERATE_PAGE)
