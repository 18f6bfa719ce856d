"""Images kept on local disk under unguessable names, each with a WebP thumbnail made once at save time."""

from __future__ import annotations

import io
import secrets
import tempfile
from pathlib import Path

from PIL import Image

from akari.errors import NotFound, StoreError
from akari.files import write_atomically as _write_atomically
from akari.imaging import EXTENSIONS, make_thumbnail, sniff_format
from akari.stores import StoredImage

THUMBNAIL_SUFFIX = ".thumb.webp"
_ADMIN_HINT = "Ask your administrator to check AKARI_DATA_DIR and the free disk space."


class LocalStore:
    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def save(self, data: bytes, *, fmt: str, prompt: str, owner: str, generation_id: int) -> StoredImage:
        fmt = sniff_format(data) or fmt  # the bytes decide the extension, not the label
        if fmt not in EXTENSIONS:
            raise StoreError(
                "This image format cannot be stored.",
                detail=f"unsupported format {fmt!r}",
                reason="store_rejected",
                retryable=False,
            )
        width, height, thumbnail = self._measure(data)
        # Only random hex reaches the path: user text never names a file, and hex is safe in any shell.
        token = secrets.token_hex(16)
        original = self.root / token[:2] / f"{token}.{EXTENSIONS[fmt]}"
        thumb = original.with_name(token + THUMBNAIL_SUFFIX)
        try:
            original.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(original, data)
            _write_atomically(thumb, thumbnail)
        except OSError as exc:
            _unlink_quietly(original)
            raise StoreError(
                "The image could not be written to disk. " + _ADMIN_HINT,
                detail=f"{type(exc).__name__}: {exc}",
                reason="store_disk",
            ) from exc
        return StoredImage(
            key=original.relative_to(self.root).as_posix(),
            url=str(original.resolve()),
            thumbnail_url=str(thumb.resolve()),
            width=width,
            height=height,
            bytes=len(data),
            format=fmt,
        )

    @staticmethod
    def _measure(data: bytes) -> tuple[int, int, bytes]:
        try:
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
            return width, height, make_thumbnail(data)
        except Exception as exc:  # Pillow raises many types for corrupt data
            raise StoreError(
                "The image is damaged and could not be stored.",
                detail=f"{type(exc).__name__}: {exc}",
                reason="store_rejected",
                retryable=False,
            ) from exc

    def delete(self, key: str) -> None:
        original = self._inside_root(self.root / key)
        thumb = original.with_name(original.name.split(".", 1)[0] + THUMBNAIL_SUFFIX)
        try:
            _unlink_quietly(thumb, strict=True)
            _unlink_quietly(original, strict=True)
        except OSError as exc:
            raise StoreError(
                "The image could not be deleted from disk. " + _ADMIN_HINT,
                detail=f"{type(exc).__name__}: {exc}",
                reason="store_disk",
            ) from exc

    def read(self, url: str) -> bytes:
        path = self._inside_root(Path(url))
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFound("This image is no longer on disk.", detail=str(path)) from exc
        except OSError as exc:
            raise StoreError(
                "The image could not be read from disk. " + _ADMIN_HINT,
                detail=f"{type(exc).__name__}: {exc}",
                reason="store_disk",
            ) from exc

    def check(self) -> str:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.root):
                pass
        except OSError as exc:
            raise StoreError(
                f"The image folder {self.root} is not writable. " + _ADMIN_HINT,
                detail=f"{type(exc).__name__}: {exc}",
                reason="store_disk",
                retryable=False,
            ) from exc
        return f"Writable: {self.root.resolve()}"

    def _inside_root(self, path: Path) -> Path:
        """Resolve `path` (symlinks too) and refuse anything that lands outside the image folder."""
        root = self.root.resolve()
        resolved = (path if path.is_absolute() else root / path).resolve()
        if resolved == root or not resolved.is_relative_to(root):
            raise NotFound("This image is not in the image folder.", detail=f"refused path outside root: {path}")
        return resolved


def _unlink_quietly(path: Path, *, strict: bool = False) -> None:
    """Remove a file; a missing one is fine. Other errors are raised only when `strict`."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        if strict:
            raise
