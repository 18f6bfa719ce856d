"""Prompt and settings validation with messages in the user's words, and style presets."""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from akari.errors import InvalidInput
from akari.models_catalog import ASPECTS

if TYPE_CHECKING:
    from akari.models_catalog import ModelSpec

MAX_PROMPT_CHARS = 2048
MIN_STEPS, MAX_STEPS, DEFAULT_STEPS = 1, 8, 4
MAX_SEED = 2**32 - 1
_ALLOWED_CONTROLS = {"\n", "\t"}
SOURCES = ("ui", "api", "cli")

# The model has no style parameter: a style is a template around the user's words.
STYLE_PRESETS: dict[str, str] = {
    "None": "{prompt}",
    "Photograph": "{prompt}, professional photograph, natural light, 50mm lens, sharp focus, high detail",
    "Watercolour": "{prompt}, delicate watercolour painting, soft washes, paper texture",
    "Anime": "{prompt}, anime illustration, clean line art, vibrant cel shading",
    "Cinematic": "{prompt}, cinematic still, dramatic lighting, shallow depth of field, film grain",
    "3D render": "{prompt}, 3D render, soft global illumination, octane, smooth materials",
    "Pixel art": "{prompt}, pixel art, 16-bit, limited palette, crisp pixels",
}


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    steps: int | None = DEFAULT_STEPS  # None: the model's default
    seed: int | None = None  # None: a random seed is chosen and recorded
    is_public: bool = False
    source: str = "ui"  # ui | api | cli: where it was asked for, for the usage figures
    # The model and the inputs only some models take (akari.models_catalog); None: the model's default.
    model: str | None = None  # None: the admin's default model
    width: int | None = None
    height: int | None = None
    aspect: str | None = None  # or: an aspect-ratio preset (akari.models_catalog.ASPECTS), sized for the model
    guidance: float | None = None
    negative_prompt: str | None = None
    reference: bytes | None = None  # an uploaded reference image (image-to-image)
    reference_from: int | None = None  # or: start from this generation's image (one's own or a shared one)
    reference_of: int | None = None  # or: reuse the reference image that generation started from


def apply_style(prompt: str, style: str) -> str:
    """The prompt inside the style's template; refused in words when the style pushes it over the limit."""
    template = STYLE_PRESETS.get(style)
    if template is None:
        raise InvalidInput(f"Unknown style {style!r}. Pick one of: {', '.join(STYLE_PRESETS)}.")
    styled = template.format(prompt=prompt.strip())
    if len(styled) > MAX_PROMPT_CHARS:
        added = len(styled) - len(prompt.strip())
        raise InvalidInput(
            f"The {style} style adds {added} characters, which makes your prompt {len(styled):,} characters long; "
            f"the limit is {MAX_PROMPT_CHARS:,}. Shorten the prompt by {len(styled) - MAX_PROMPT_CHARS:,} "
            "characters or pick no style."
        )
    return styled


def clean_prompt(prompt: object) -> str:
    """Return the prompt, trimmed, with line breaks as "\n", or raise InvalidInput saying what is wrong with it."""
    if not isinstance(prompt, str):
        raise InvalidInput("Write a prompt first: describe the image you want.")
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in prompt):
        # Half of a character pair, left by a broken copy or a bad client: it cannot be sent anywhere.
        raise InvalidInput("Your prompt contains a broken character (half of an emoji or symbol). "
                           "Retype or paste it as plain text.")
    text = prompt.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not any(unicodedata.category(ch)[0] not in "CZ" for ch in text):
        # Nothing visible: empty, spaces, or invisible characters such as zero-width spaces.
        raise InvalidInput("Write a prompt first: describe the image you want.")
    if len(text) > MAX_PROMPT_CHARS:
        raise InvalidInput(
            f"Your prompt is {len(text):,} characters long; the limit is {MAX_PROMPT_CHARS:,}. "
            "Shorten it and try again."
        )
    if any(unicodedata.category(ch) == "Cc" and ch not in _ALLOWED_CONTROLS for ch in text):
        raise InvalidInput(
            "Your prompt contains invisible control characters (often from copying text). "
            "Retype or paste it as plain text."
        )
    return text


def check_steps(steps: object) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or not MIN_STEPS <= steps <= MAX_STEPS:
        raise InvalidInput(f"Steps must be a whole number from {MIN_STEPS} to {MAX_STEPS} (you gave {steps!r}).")
    return steps


def check_seed(seed: object) -> int:
    if seed is None:
        return secrets.randbelow(2**31)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise InvalidInput(f"The seed must be a whole number from 0 to {MAX_SEED:,} (you gave {seed!r}).")
    return seed


MAX_REFERENCE_BYTES = 10 * 1024 * 1024


def validate(request: GenerationRequest, spec: ModelSpec | None = None) -> GenerationRequest:
    """A request with a clean prompt, valid steps and a concrete seed, or InvalidInput. With a model, its inputs are
    checked against what that model accepts (and `model` is filled in)."""
    if request.source not in SOURCES:
        raise InvalidInput(f"The source must be one of: {', '.join(SOURCES)}.")
    steps = spec.default_steps if spec is not None and request.steps is None else request.steps
    checked = GenerationRequest(
        prompt=clean_prompt(request.prompt),
        steps=spec.check_steps(steps) if spec else check_steps(steps),
        seed=check_seed(request.seed),
        is_public=bool(request.is_public),
        source=request.source,
    )
    if spec is None:
        return checked
    for name, value in (("reference", request.reference_from), ("reference", request.reference_of)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise InvalidInput(f"The {name} must be the id of a generation: a whole number (you gave {value!r}).")
    given = [x for x in (request.reference, request.reference_from, request.reference_of) if x is not None]
    if len(given) > 1:
        raise InvalidInput("Start from one reference image: an upload or a gallery image, not both.")
    if request.reference is not None:
        from akari.imaging import check_reference

        if not isinstance(request.reference, bytes) or len(request.reference) > MAX_REFERENCE_BYTES:
            raise InvalidInput("The reference image must be a picture of at most 10 MB.")
        check_reference(request.reference)
    spec.check_references(len(given))
    width, height = spec.check_size(*_asked_size(request, spec))
    return replace(checked, model=spec.id, width=width, height=height, guidance=spec.check_guidance(request.guidance),
                   negative_prompt=spec.check_negative_prompt(request.negative_prompt), reference=request.reference,
                   reference_from=request.reference_from, reference_of=request.reference_of)


def _asked_size(request: GenerationRequest, spec: ModelSpec) -> tuple[object, object]:
    """(width, height) as asked: given, or the aspect preset's size for this model."""
    if request.aspect is None:
        return request.width, request.height
    if request.width is not None or request.height is not None:
        raise InvalidInput("Give an aspect ratio or a width and height, not both.")
    if not isinstance(request.aspect, str):
        raise InvalidInput(f"The aspect ratio must be one of: {', '.join(ASPECTS)} (you gave {request.aspect!r}).")
    size = spec.size_for(request.aspect)
    if not spec.takes_size:
        a, b = ASPECTS[request.aspect]
        if size[0] * b != size[1] * a:
            raise InvalidInput(f"{spec.label} makes {size[0]}x{size[1]} images only: leave the aspect ratio out or "
                               "pick another model.")
        return None, None
    return size

