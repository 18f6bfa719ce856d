"""The spool: images that were generated (and paid for) but not yet stored, kept until an upload succeeds."""

from __future__ import annotations

from pathlib import Path

from akari.files import write_atomically
from akari.imaging import EXTENSIONS, sniff_format


class Spool:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, generation_id: int, fmt: str) -> Path:
        return self.root / f"{generation_id}.{EXTENSIONS.get(fmt, 'bin')}"

    def put(self, generation_id: int, data: bytes, fmt: str) -> Path:
        """Durably: this copy may be the only one."""
        self.root.mkdir(parents=True, exist_ok=True)
        target = self._path(generation_id, fmt)
        write_atomically(target, data)
        return target

    def find(self, generation_id: int) -> Path | None:
        for ext in EXTENSIONS.values():
            path = self.root / f"{generation_id}.{ext}"
            if path.exists():
                return path
        return None

    def get(self, generation_id: int) -> tuple[bytes, str] | None:
        path = self.find(generation_id)
        if path is None:
            return None
        data = path.read_bytes()
        return data, sniff_format(data) or "jpeg"

    def remove(self, generation_id: int) -> None:
        path = self.find(generation_id)
        if path is not None:
            path.unlink(missing_ok=True)

    def ids(self) -> list[int]:
        if not self.root.exists():
            return []
        return sorted(int(p.stem) for p in self.root.iterdir() if p.stem.isdigit())
