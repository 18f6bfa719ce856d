"""Image bytes helpers: format sniffing, size reading and thumbnails (Pillow)."""

from __future__ import annotations

import io

from PIL import Image

from akari.errors import GenerationError

THUMBNAIL_SIZE = 384
MIME_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp"}


def sniff_format(data: bytes) -> str | None:
    """Return 'jpeg', 'png' or 'webp' from the magic bytes, or None. Never trust a label."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def inspect_image(data: bytes) -> tuple[str, int, int]:
    """Return (format, width, height) of real image bytes, or raise GenerationError for anything else."""
    fmt = sniff_format(data)
    if fmt is None:
        raise GenerationError(
            "The image service sent back something that is not an image. Please try again.",
            detail=f"unrecognised image bytes ({len(data)} bytes, starts {data[:8]!r})",
            reason="bad_response",
            retryable=True,
        )
    try:
        width, height = verified_size(data)
    except Exception as exc:  # Pillow raises many types for corrupt data
        raise GenerationError(
            "The image service sent back a damaged image. Please try again.",
            detail=f"corrupt {fmt}: {exc}",
            reason="bad_response",
            retryable=True,
        ) from exc
    return fmt, width, height


def verified_size(data: bytes) -> tuple[int, int]:
    """(width, height) of an image whose data Pillow checked whole; raises what Pillow raises on damaged data."""
    with Image.open(io.BytesIO(data)) as img:
        img.verify()  # after verify() the image cannot be used: open it again for the size
    with Image.open(io.BytesIO(data)) as img:
        return img.size


def make_thumbnail(data: bytes, size: int = THUMBNAIL_SIZE, quality: int = 80) -> bytes:
    """A square, centre-cropped WebP thumbnail of `size` pixels."""
    with Image.open(io.BytesIO(data)) as img:
        img = img.convert("RGB")
        side = min(img.size)
        left, top = (img.width - side) // 2, (img.height - side) // 2
        img = img.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        img.save(out, format="WEBP", quality=quality, method=4)
    return out.getvalue()


def fit_within(data: bytes, max_side: int) -> bytes:
    """The image as PNG, shrunk (never enlarged) so that neither side is over `max_side` pixels."""
    with Image.open(io.BytesIO(data)) as img:
        img = img.convert("RGB")
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        img.save(out, format="PNG")
    return out.getvalue()


def check_reference(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) of an uploaded reference image, or InvalidInput in the user's words."""
    from akari.errors import InvalidInput

    fmt = sniff_format(data)
    if fmt is None:
        raise InvalidInput("The reference image must be a JPEG, PNG or WebP picture.")
    try:
        width, height = verified_size(data)
    except Exception as exc:  # Pillow raises many types for corrupt data
        raise InvalidInput("The reference image is damaged or incomplete: upload it again.") from exc
    return fmt, width, height
