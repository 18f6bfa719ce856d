"""Uploaded reference images: stored like any image, and deleted with the last generation that uses them."""

from __future__ import annotations

import logging
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from akari.db.models import Generation
from akari.stores import Stores

log = logging.getLogger("akari.references")

UPLOAD_PREFIX = "ref-u"  # an upload's stored name; a gallery image used as a reference keeps its own name


def upload_name(user_id: int) -> str:
    return f"{UPLOAD_PREFIX}{user_id}-{secrets.token_hex(8)}"


def is_upload(key: str) -> bool:
    """An uploaded reference, not a generation's own picture (that one goes with its generation, not here)."""
    return key.rsplit("/", 1)[-1].startswith(UPLOAD_PREFIX)


def release(sessions: sessionmaker[Session], stores: Stores, key: str | None, store: str | None) -> bool:
    """Delete an uploaded reference image that no live generation uses any more; True when deleted.

    Call it after the generation's `deleted_at` is committed. Of two generations sharing one reference (a batch,
    "Reuse settings") deleted at once, at least the last to commit sees no other user. A submit that reuses it locks
    the generation it reuses from and refuses a deleted one (GenerationService._insert), so no new generation can
    start from a reference deleted here."""
    if not key or not store or not is_upload(key):
        return False
    with sessions() as session:
        used = session.execute(select(Generation.id).where(
            Generation.reference_key == key, Generation.reference_store == store,
            Generation.deleted_at.is_(None)).limit(1)).first()
    if used is not None:
        return False
    try:
        stores.get(store).delete(key)
    except Exception as exc:  # the generation is deleted either way; an orphan reference costs only space
        log.warning("could not delete the reference image %s: %s", key, exc)
        return False
    return True
