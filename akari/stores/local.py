"""Images kept on local disk, named by keys relative to the image folder, each with a WebP thumbnail made once."""

from __future__ import annotations

import functools
import hashlib
import io
import re
import tempfile
from pathlib import Path

from PIL import Image

from akari.errors import NotFound, StoreError
from akari.files import write_atomically
from akari.imaging import EXTENSIONS, make_thumbnail, sniff_format
from akari.stores import ImageMeta, Size, StoredImage

THUMBNAIL_SUFFIX = ".thumb.webp"
IMAGE_ROUTE = "/images/"  # the app's route that serves local images to the viewers allowed to see them
_ADMIN_HINT = "Ask your administrator to check AKARI_DATA_DIR and the free disk space."
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,100}")


def thumbnail_key(key: str) -> str:
    """The thumbnail's key beside an original's (`ab/g1-x.jpg` -> `ab/g1-x.thumb.webp`)."""
    folder, _, file = key.rpartition("/")
    return f"{folder}/{file.split('.', 1)[0]}{THUMBNAIL_SUFFIX}" if folder else file.split(".", 1)[0] + THUMBNAIL_SUFFIX


class LocalStore:
    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def save(self, data: bytes, *, name: str, fmt: str, private: bool, meta: ImageMeta) -> StoredImage:
        fmt = sniff_format(data) or fmt  # the bytes decide the extension, not the label
        if fmt not in EXTENSIONS:
            raise StoreError("This image format cannot be stored.", detail=f"unsupported format {fmt!r}",
                             reason="store_rejected", retryable=False)
        if not _NAME.fullmatch(name):
            raise StoreError("The image could not be named.", detail=f"refused name {name!r}",
                             reason="store_rejected", retryable=False)
        width, height, thumbnail = self._measure(data)
        # A short folder per name keeps folders small; the name itself carries the random token.
        key = f"{hashlib.sha1(name.encode()).hexdigest()[:2]}/{name}.{EXTENSIONS[fmt]}"
        original = self.root / key
        try:
            original.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(original, data)  # the same name again replaces: a retried save never duplicates
            write_atomically(self.root / thumbnail_key(key), thumbnail)
        except OSError as exc:
            raise StoreError("The image could not be written to disk. " + _ADMIN_HINT,
                             detail=f"{type(exc).__name__}: {exc}", reason="store_disk") from exc
        return StoredImage(key=key, url=None, width=width, height=height, bytes=len(data), format=fmt)

    @staticmethod
    def _measure(data: bytes) -> tuple[int, int, bytes]:
        try:
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
            return width, height, make_thumbnail(data)
        except Exception as exc:  # Pillow raises many types for corrupt data
            raise StoreError("The image is damaged and could not be stored.", detail=f"{type(exc).__name__}: {exc}",
                             reason="store_rejected", retryable=False) from exc

    def path(self, key: str, size: Size = "full") -> Path:
        """The file behind a key, refused if it would lie outside the image folder."""
        return self._inside_root(thumbnail_key(key) if size == "thumb" else key)

    def read(self, key: str) -> bytes:
        path = self.path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFound("This image is no longer on disk.", detail=str(path)) from exc
        except OSError as exc:
            raise StoreError("The image could not be read from disk. " + _ADMIN_HINT,
                             detail=f"{type(exc).__name__}: {exc}", reason="store_disk") from exc

    def delete(self, key: str) -> None:
        try:
            self.path(key, "thumb").unlink(missing_ok=True)
            self.path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError("The image could not be deleted from disk. " + _ADMIN_HINT,
                             detail=f"{type(exc).__name__}: {exc}", reason="store_disk") from exc

    def display_url(self, key: str, size: Size, *, private: bool) -> str:
        # The route checks who is asking, so a private image's address is no secret to keep.
        return f"{IMAGE_ROUTE}{key}" + ("?size=thumb" if size == "thumb" else "")

    def set_private(self, key: str, private: bool) -> None:
        """Nothing to do: every local image is served through the route, which checks the viewer."""

    def check(self) -> str:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.root):
                pass
        except OSError as exc:
            raise StoreError(f"The image folder {self.root} is not writable. " + _ADMIN_HINT,
                             detail=f"{type(exc).__name__}: {exc}", reason="store_disk", retryable=False) from exc
        return f"Writable: {self.root.resolve()}"

    @functools.cached_property
    def _real_root(self) -> Path:
        """The image folder with its links resolved, once: every image request resolves a key against it."""
        return self.root.resolve()

    def _inside_root(self, key: str) -> Path:
        """Resolve the key (symlinks too) and refuse anything that lands outside the image folder."""
        root = self._real_root
        resolved = (root / key).resolve()
        if Path(key).is_absolute() or resolved == root or not resolved.is_relative_to(root):
            raise NotFound("This image is not in the image folder.", detail=f"refused key outside root: {key!r}")
        return resolved


class DemoStore(LocalStore):
    """The demo rows' shared stand-in pictures (`demo/place-NN.jpg`): read like local images, never removed."""

    name = "demo"

    def save(self, data: bytes, *, name: str, fmt: str, private: bool, meta: ImageMeta) -> StoredImage:
        raise StoreError("Demo pictures are read-only.", reason="store_rejected", retryable=False)

    def delete(self, key: str) -> None:
        """Many demo rows share one picture: deleting a row leaves the file for the others."""
