"""Image stores behind one small Protocol, and the registry that finds the store holding a given image."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from akari.errors import StoreError

if TYPE_CHECKING:
    from akari.config import Settings

Size = Literal["thumb", "full"]


@dataclass(frozen=True)
class StoredImage:
    key: str  # what read/delete/display_url take: a Cloudinary public_id, or a path relative to the image folder
    url: str | None  # the store's own address for the original (Cloudinary's secure_url); None for local files
    width: int
    height: int
    bytes: int
    format: str


@dataclass(frozen=True)
class ImageMeta:
    """What the store may record beside an image (tags, context); never needed to read it back."""

    generation_id: int
    owner: str
    prompt: str


class ImageStore(Protocol):
    name: str  # "cloudinary" | "local" | "demo": recorded with each image

    def save(self, data: bytes, *, name: str, fmt: str, private: bool, meta: ImageMeta) -> StoredImage:
        """Keep the image under `name`. Saving the same name again replaces it (a retried upload never duplicates).
        Raises akari.errors.StoreError on failure."""
        ...

    def read(self, key: str) -> bytes:
        """The stored bytes (downloads, ZIPs). NotFound when gone, StoreError when unreachable."""
        ...

    def delete(self, key: str) -> None:
        """Remove the image (and its thumbnail). A missing image is not an error."""
        ...

    def display_url(self, key: str, size: Size, *, private: bool) -> str:
        """Where a browser fetches it: an https URL (signed when private), or a path of the app's own image route."""
        ...

    def set_private(self, key: str, private: bool) -> None:
        """Switch who may fetch the original by URL (sharing and unsharing)."""
        ...

    def check(self) -> str:
        """Check the connection/credentials cheaply; return a short status or raise AkariError."""
        ...


class Stores:
    """Every store this server can reach, by the name recorded with each image; `current` takes new images."""

    def __init__(self, current: ImageStore, *others: ImageStore) -> None:
        self.current = current
        self._by_name = {store.name: store for store in (*others, current)}

    def get(self, name: str) -> ImageStore:
        store = self._by_name.get(name)
        if store is None:
            raise StoreError(f"This image is kept on {name}, which this server is not set up to reach.",
                             reason="store_config", retryable=False)
        return store


def make_stores(settings: Settings) -> Stores:
    """The configured store for new images, plus the local disk (and its demo pictures) for older ones."""
    from akari.stores.local import DemoStore, LocalStore

    local = LocalStore(settings.images_dir)
    demo = DemoStore(settings.images_dir)
    if settings.store == "cloudinary":
        from akari.stores.cloudinary_store import CloudinaryStore

        return Stores(CloudinaryStore.from_settings(settings), local, demo)
    return Stores(local, demo)
