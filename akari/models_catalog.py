"""The text-to-image models Akari can use: what each accepts, how it is spoken to, and what it costs in neurons."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from akari.errors import InvalidInput

DOLLARS_PER_1000_NEURONS = 0.011
TILE = 512  # prices count 512x512 tiles, partial tiles rounded up
ASPECTS: dict[str, tuple[int, int]] = {"1:1": (1, 1), "4:3": (4, 3), "3:4": (3, 4), "16:9": (16, 9), "9:16": (9, 16)}


def tiles(width: int, height: int) -> int:
    """512x512 tiles of an image, partial tiles rounded up: 4 for 1024x1024."""
    return -(-width // TILE) * -(-height // TILE)


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    default: int
    step: int = 1


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    default: float


@dataclass(frozen=True)
class Price:
    """Neurons for one image: per output tile, per step (x output tiles when `per_tile_step`), per input tile."""

    per_tile: float = 0.0
    per_step: float = 0.0
    per_input_tile: float = 0.0

    def neurons(self, width: int, height: int, steps: int, input_tiles: int = 0) -> float:
        return round(tiles(width, height) * self.per_tile + steps * self.per_step
                     + input_tiles * self.per_input_tile, 2)


@dataclass(frozen=True)
class ModelSpec:
    """One model: its inputs (None where it takes none), its wire formats and its price."""

    id: str  # the Workers AI model name, recorded with every row
    label: str
    request_format: Literal["json", "multipart"]
    response_format: Literal["base64_json", "raw_bytes"]
    price: Price
    steps: IntRange | None = None  # None: fixed at `fixed_steps` and not sent
    fixed_steps: int = 4
    steps_field: str = "steps"
    seed: bool = True
    width: IntRange | None = None  # None: the model takes no size and makes `fixed_size`
    height: IntRange | None = None
    fixed_size: tuple[int, int] = (1024, 1024)
    guidance: FloatRange | None = None
    negative_prompt: bool = False
    reference_images: int = 0  # how many reference images it takes
    reference_max_side: int | None = None  # references are shrunk to fit under this
    mask: bool = False
    note: str = ""

    @property
    def takes_size(self) -> bool:
        return self.width is not None and self.height is not None

    @property
    def takes_reference(self) -> bool:
        return self.reference_images > 0

    @property
    def default_steps(self) -> int:
        return self.steps.default if self.steps else self.fixed_steps

    @property
    def default_size(self) -> tuple[int, int]:
        if self.width is None or self.height is None:
            return self.fixed_size
        return self.width.default, self.height.default

    def check_steps(self, steps: object) -> int:
        """Steps inside the model's range; a model with fixed steps makes its own number whatever was asked."""
        if self.steps is None:
            return self.fixed_steps
        low, high = self.steps.low, self.steps.high
        if isinstance(steps, bool) or not isinstance(steps, int) or not low <= steps <= high:
            raise InvalidInput(f"Steps must be a whole number from {low} to {high} for {self.label} "
                               f"(you gave {steps!r}).")
        return steps

    def check_size(self, width: object, height: object) -> tuple[int | None, int | None]:
        """A size the model can make, or (None, None) for a model that makes one size."""
        if self.width is None or self.height is None:
            if width is not None or height is not None:
                raise InvalidInput(f"{self.label} makes {self.fixed_size[0]}x{self.fixed_size[1]} images only: "
                                   "leave the size out or pick another model.")
            return None, None
        if width is None and height is None:
            return self.default_size
        for name, value, allowed in (("width", width, self.width), ("height", height, self.height)):
            if isinstance(value, bool) or not isinstance(value, int) or not allowed.low <= value <= allowed.high \
                    or value % allowed.step:
                raise InvalidInput(f"The {name} for {self.label} must be a whole number from {allowed.low} to "
                                   f"{allowed.high} in steps of {allowed.step} (you gave {value!r}).")
        return width, height  # type: ignore[return-value]

    def check_guidance(self, guidance: object) -> float | None:
        if guidance is None:
            return None
        if self.guidance is None:
            raise InvalidInput(f"{self.label} takes no guidance value: leave it out.")
        if isinstance(guidance, bool) or not isinstance(guidance, int | float) \
                or not self.guidance.low <= guidance <= self.guidance.high:
            raise InvalidInput(f"Guidance for {self.label} must be a number from {self.guidance.low:g} to "
                               f"{self.guidance.high:g} (you gave {guidance!r}).")
        return float(guidance)

    def check_negative_prompt(self, negative_prompt: object) -> str | None:
        if negative_prompt is None or negative_prompt == "":
            return None
        if not self.negative_prompt:
            raise InvalidInput(f"{self.label} takes no negative prompt: leave it empty or pick another model.")
        if not isinstance(negative_prompt, str) or len(negative_prompt.strip()) > 2048:
            raise InvalidInput("The negative prompt must be text of at most 2,048 characters.")
        return negative_prompt.strip() or None

    def check_references(self, count: int) -> int:
        if count and not self.takes_reference:
            raise InvalidInput(f"{self.label} cannot start from a reference image: pick "
                               f"{' or '.join(s.label for s in CATALOG.values() if s.takes_reference)}.")
        if count > self.reference_images:
            raise InvalidInput(f"{self.label} takes at most {self.reference_images} reference images.")
        return count

    def size_for(self, aspect: str) -> tuple[int, int]:
        """The preset's size for this model: the long side of the default size, the short side to the ratio,
        both on the model's step and inside its range. Models without a size make their one size."""
        if aspect not in ASPECTS:
            raise InvalidInput(f"Unknown aspect ratio {aspect!r}. Pick one of: {', '.join(ASPECTS)}.")
        if self.width is None or self.height is None:
            return self.fixed_size
        a, b = ASPECTS[aspect]
        long_side = max(self.default_size)
        w, h = (long_side, long_side * b / a) if a >= b else (long_side * a / b, long_side)
        return _fit(w, self.width), _fit(h, self.height)

    def neurons(self, width: int | None = None, height: int | None = None, steps: int | None = None,
                references: int = 0) -> float:
        """Estimated neurons for one image (references are sent at most one tile each)."""
        default_w, default_h = self.default_size
        return self.price.neurons(width or default_w, height or default_h,
                                  self.default_steps if steps is None else steps, references)

    def dollars(self, *args: int | None, **kwargs: int | None) -> float:
        return self.neurons(*args, **kwargs) * DOLLARS_PER_1000_NEURONS / 1000  # type: ignore[arg-type]


def _fit(value: float, allowed: IntRange) -> int:
    stepped = round(value / allowed.step) * allowed.step
    return max(allowed.low, min(allowed.high, stepped))


# Facts from Cloudflare's model pages and pricing (see the README's models section).
CATALOG: dict[str, ModelSpec] = {spec.id: spec for spec in (
    ModelSpec(
        id="@cf/black-forest-labs/flux-1-schnell", label="FLUX.1 [schnell]", request_format="json",
        response_format="base64_json", price=Price(per_tile=4.80, per_step=9.60),
        steps=IntRange(1, 8, 4), note="Fast and cheap; one square size.",
    ),
    ModelSpec(
        id="@cf/black-forest-labs/flux-2-klein-4b", label="FLUX.2 [klein] 4B", request_format="multipart",
        response_format="base64_json", price=Price(per_tile=26.05, per_input_tile=5.37), steps=None, fixed_steps=4,
        width=IntRange(256, 1920, 1024, 16), height=IntRange(256, 1920, 768, 16), guidance=FloatRange(0.0, 10.0, 1.0),
        reference_images=4, reference_max_side=511, note="Any size; edits from up to four reference images.",
    ),
    ModelSpec(
        id="@cf/leonardo/phoenix-1.0", label="Leonardo Phoenix 1.0", request_format="json",
        response_format="raw_bytes", price=Price(per_tile=530.0, per_step=10.0),
        steps=IntRange(1, 50, 25), steps_field="num_steps", width=IntRange(256, 2048, 1024, 8),
        height=IntRange(256, 2048, 1024, 8), guidance=FloatRange(2.0, 10.0, 2.0), negative_prompt=True,
        note="Strong prompt following and text in images; about 40 times FLUX.1's price.",
    ),
    ModelSpec(
        id="@cf/bytedance/stable-diffusion-xl-lightning", label="SDXL Lightning (beta)", request_format="json",
        response_format="raw_bytes", price=Price(), steps=IntRange(1, 20, 20), steps_field="num_steps",
        width=IntRange(256, 2048, 1024, 8), height=IntRange(256, 2048, 1024, 8), guidance=FloatRange(0.0, 30.0, 7.5),
        negative_prompt=True, reference_images=1, mask=True,
        note="Beta, listed at no charge; image-to-image from one reference.",
    ),
)}
DEFAULT_MODEL = "@cf/black-forest-labs/flux-1-schnell"


def get_model(model_id: str) -> ModelSpec:
    spec = CATALOG.get(model_id) if isinstance(model_id, str) else None
    if spec is None:
        raise InvalidInput(f"Unknown model {model_id!r}. Pick one of: {', '.join(s.label for s in CATALOG.values())}.")
    return spec


def label_for(model_id: str) -> str:
    """The model's name for people; unknown ids (the offline renderer, retired models) as they are."""
    spec = CATALOG.get(model_id)
    return spec.label if spec else model_id
