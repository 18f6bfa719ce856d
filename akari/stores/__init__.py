"""Image stores behind one small Protocol; `make_store` picks one from settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from akari.config import Settings


@dataclass(frozen=True)
class StoredImage:
    key: str  # Cloudinary public_id, or the local file's name: what `delete` takes
    url: str  # full-size image: https URL, or a local file path
    thumbnail_url: str  # grid-size thumbnail: transformation URL, or a local file path
    width: int
    height: int
    bytes: int
    format: str
    version: str | None = None


class ImageStore(Protocol):
    name: str  # "cloudinary" | "local"

    def save(self, data: bytes, *, fmt: str, prompt: str, owner: str, generation_id: int) -> StoredImage:
        """Keep the image. Raises akari.errors.StoreError on failure."""
        ...

    def delete(self, key: str) -> None:
        """Remove the image (and its thumbnail). Missing images are not an error."""
        ...

    def read(self, url: str) -> bytes:
        """The stored bytes for a url returned by `save` (used for downloads and ZIPs)."""
        ...

    def check(self) -> str:
        """Check the connection/credentials cheaply; return a short status or raise AkariError."""
        ...


def make_store(settings: Settings) -> ImageStore:
    if settings.store == "cloudinary":
        from akari.stores.cloudinary_store import CloudinaryStore

        return CloudinaryStore.from_settings(settings)
    from akari.stores.local import LocalStore

    return LocalStore(settings.images_dir)
