"""The spool: every generated (and paid-for) image is written here, durably, before its upload is tried."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

from akari.errors import NotFound, StoreError
from akari.files import write_atomically
from akari.imaging import EXTENSIONS

# A full disk, an exhausted quota, a file-size limit: space ran out rather than something being broken.
_OUT_OF_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
SPOOL_FULL_MESSAGE = (
    "Your image was made, but the server has no disk space left to keep it safe while it is saved, "
    "and saving it directly failed too. Ask your administrator to free some space."
)


class Spool:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.host = socket.gethostname()  # recorded with each key: another machine cannot read this disk

    @staticmethod
    def key_for(generation_id: int, fmt: str) -> str:
        return f"{generation_id}.{EXTENSIONS.get(fmt, 'bin')}"

    def put(self, generation_id: int, data: bytes, fmt: str) -> str:
        """Write durably (fsync'd) and return the key. Raises StoreError, reason "spool_full" when space ran out."""
        key = self.key_for(generation_id, fmt)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            write_atomically(self.root / key, data)
        except OSError as exc:
            full = exc.errno in _OUT_OF_SPACE
            raise StoreError(
                SPOOL_FULL_MESSAGE if full else "Your image was made but could not be kept safe on the server.",
                detail=f"spool write failed: {type(exc).__name__}: {exc}",
                reason="spool_full" if full else "spool_failed",
            ) from exc
        return key

    def read(self, key: str) -> bytes:
        try:
            return (self.root / Path(key).name).read_bytes()
        except FileNotFoundError as exc:
            raise NotFound("The image waiting for upload is missing from the server's spool folder.",
                           detail=f"no spool file {key!r} on {self.host}") from exc

    def exists(self, key: str) -> bool:
        return (self.root / Path(key).name).is_file()

    def keys(self) -> dict[int, list[str]]:
        """Spooled files by generation id."""
        found: dict[int, list[str]] = {}
        if self.root.is_dir():
            for path in self.root.iterdir():
                stem = path.name.split(".", 1)[0]
                if stem.isdigit() and path.is_file():
                    found.setdefault(int(stem), []).append(path.name)
        return found

    def remove(self, key: str) -> None:
        (self.root / Path(key).name).unlink(missing_ok=True)
