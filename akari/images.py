"""Where a generation's image lives and how it is shown: every reader asks here, and here asks the row's store."""

from __future__ import annotations

from akari.errors import NotFound
from akari.records import GenerationRecord
from akari.spool import Spool
from akari.stores import Size, Stores


class Images:
    def __init__(self, stores: Stores, spool: Spool) -> None:
        self.stores = stores
        self.spool = spool

    def url(self, record: GenerationRecord, size: Size = "thumb") -> str | None:
        """Where a browser fetches the image (an app path such as /images/..., or an https URL); None while it
        waits in the spool or when there is no image."""
        if not record.has_image or not record.image_key or record.status != "succeeded":
            return None
        return self.stores.get(record.store).display_url(record.image_key, size, private=not record.is_public)

    def read(self, record: GenerationRecord) -> bytes:
        """The full image: from the spool from the moment it is made until it is stored, else from its store."""
        if record.deleted:
            raise NotFound("This generation has no image.")
        if record.spool_key and self.spool.exists(record.spool_key):
            return self.spool.read(record.spool_key)  # made; its upload may still be under way
        if not record.has_image:
            raise NotFound("This generation has no image.")
        if not record.image_key:
            raise NotFound("This generation has no image.")
        return self.stores.get(record.store).read(record.image_key)

    def delete(self, record: GenerationRecord) -> None:
        if record.image_key:
            self.stores.get(record.store).delete(record.image_key)
        if record.spool_key:
            self.spool.remove(record.spool_key)

    def set_private(self, record: GenerationRecord, private: bool) -> None:
        if record.image_key:
            self.stores.get(record.store).set_private(record.image_key, private)
