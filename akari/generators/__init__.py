"""Image generators behind one small Protocol; `make_generator` picks one from settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from akari.config import Settings


@dataclass(frozen=True)
class GeneratedImage:
    data: bytes
    format: str  # "jpeg" | "png" | "webp" (sniffed from the bytes)
    width: int
    height: int
    seed: int
    steps: int
    model: str
    generator: str  # "cloudflare" | "offline"
    # Provider extras for the log (request id, cache status), never secrets.
    meta: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelInputs:
    """What goes with a prompt beyond steps and seed: the model and the inputs it accepts (None: its default)."""

    model: str | None = None  # a akari.models_catalog id; None: the generator's default model
    width: int | None = None
    height: int | None = None
    guidance: float | None = None
    negative_prompt: str | None = None
    references: tuple[bytes, ...] = ()  # reference images (image-to-image), as stored


class ImageGenerator(Protocol):
    name: str  # "cloudflare" | "offline"
    model: str

    def generate(self, prompt: str, *, steps: int, seed: int, deadline: float | None = None,
                 inputs: ModelInputs | None = None) -> GeneratedImage:
        """Make one image, giving up at `deadline` (time.monotonic()) with every retry inside it.
        Raises akari.errors.GenerationError with a user sentence on failure."""
        ...

    def check(self) -> str:
        """Check the connection/credentials cheaply; return a short status or raise AkariError."""
        ...


def make_generator(settings: Settings) -> ImageGenerator:
    if settings.generator == "cloudflare":
        from akari.generators.cloudflare import CloudflareGenerator

        return CloudflareGenerator.from_settings(settings)
    from akari.generators.offline import OfflineGenerator

    return OfflineGenerator()
