"""The images each viewer was just shown in a gallery page, so their thumbnails are served without a second check."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable

# The page that listed them checked who may see them a moment ago; a change of sharing reaches the image route
# within this long (the page itself stops listing the image at once).
SHOWN_FOR_S = 60.0
MAX_REMEMBERED = 50_000


class RecentlyShown:
    """(viewer, image key) -> the store holding it, for `SHOWN_FOR_S`; the oldest are forgotten first."""

    def __init__(self, seconds: float = SHOWN_FOR_S, limit: int = MAX_REMEMBERED) -> None:
        self.seconds = seconds
        self.limit = limit
        self._shown: OrderedDict[tuple[int, str], tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, viewer_id: int, images: Iterable[tuple[str, str]]) -> None:
        """`images`: (store, key) pairs the viewer was just allowed to see."""
        now = time.monotonic()
        with self._lock:
            for store, key in images:
                self._shown[(viewer_id, key)] = (now, store)
                self._shown.move_to_end((viewer_id, key))
            while len(self._shown) > self.limit:
                self._shown.popitem(last=False)

    def store_of(self, viewer_id: int, key: str) -> str | None:
        """The store of an image this viewer was shown within `SHOWN_FOR_S`, else None (ask the database)."""
        with self._lock:
            found = self._shown.get((viewer_id, key))
        if found is None or time.monotonic() - found[0] >= self.seconds:
            return None
        return found[1]
