"""File names for downloaded images: the first words of the prompt, safe anywhere, with the id to keep them unique."""

from __future__ import annotations

import re
import unicodedata

from akari.imaging import EXTENSIONS
from akari.records import GenerationRecord


def slug(text: str, words: int = 6, max_chars: int = 48) -> str:
    """The first words of a text as a lower-case ASCII stem; "akari" when nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "-".join(re.findall(r"[a-z0-9]+", ascii_text)[:words])[:max_chars].strip("-") or "akari"


def image_format(record: GenerationRecord) -> str:
    """The record's format in the core's names ("jpeg", "png", "webp"); Cloudinary says "jpg" for JPEG."""
    fmt = (record.image_format or "").lower()
    return "jpeg" if fmt in ("jpg", "jpeg") else fmt


def download_name(record: GenerationRecord) -> str:
    return f"{slug(record.prompt)}-{record.id}.{EXTENSIONS.get(image_format(record), 'jpg')}"
