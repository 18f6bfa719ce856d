"""The gallery: a user's images and the community's, paged and searched in the database, and what owners may do."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Literal, Protocol

from sqlalchemy import ColumnElement, Select, and_, column, func, literal_column, select, table, true, update
from sqlalchemy.orm import Session

from akari import references
from akari.db.models import Generation, User, utcnow
from akari.errors import InvalidInput, NotFound, PermissionDenied
from akari.inputs import record_id, search_text
from akari.records import GenerationRecord

if TYPE_CHECKING:
    from akari.studio import Studio

log = logging.getLogger("akari.gallery")

Scope = Literal["mine", "community"]
Sort = Literal["newest", "oldest"]
SCOPES: tuple[Scope, ...] = ("mine", "community")
SORTS: tuple[Sort, ...] = ("newest", "oldest")
GENERATORS = ("cloudflare", "offline")
FAILURE_STATUSES = ("failed", "pending_upload")
PAGE_SIZE = 24
MAX_PAGE_SIZE = 100
MAX_SEARCH_WORDS = 8
MAX_BULK_DELETE = 200

# Literals, not bound parameters: the partial indexes' conditions must be visible in the SQL for the planner.
_SUCCEEDED = Generation.status == literal_column("'succeeded'")
_VISIBLE = and_(_SUCCEEDED, Generation.deleted_at.is_(None))
_SHARED = Generation.is_public == true()
# SQLite's FTS5 table (migration 0002): rowid = generations.id.
_FTS = table("generations_fts", column("rowid"))
_FTS_MATCH = literal_column("generations_fts").op("MATCH")
# PostgreSQL: the same expression as the GIN index, word for word.
_PG_DOCUMENT = func.to_tsvector(literal_column("'simple'"), Generation.prompt)
_WORD = re.compile(r"[^\W_]+")


class Viewer(Protocol):
    """Whoever is looking: only the id is trusted; roles are read from the database for every change."""

    @property
    def id(self) -> int: ...


@dataclass(frozen=True)
class GalleryQuery:
    scope: Scope = "mine"
    search: str = ""
    favourites_only: bool = False
    date_from: date | None = None
    date_to: date | None = None  # inclusive
    steps: tuple[int, ...] = ()  # empty: any
    generator: str | None = None  # cloudflare | offline | None for both
    model: str | None = None  # one model's images (its recorded id); None: every model
    sort: Sort = "newest"
    after: int | None = None  # the last id of the previous page
    limit: int = PAGE_SIZE


@dataclass(frozen=True)
class GalleryPage:
    items: list[GenerationRecord]
    next_after: int | None  # pass as `after` for the next page; None: this is the last page


def search_words(text: str) -> list[str]:
    """The words of a search box, lower-cased; punctuation and search operators are dropped."""
    return [w.lower() for w in _WORD.findall(search_text(text))][:MAX_SEARCH_WORDS]


def _fts_query(words: Sequence[str]) -> str:
    """Every word must appear; the last one may be unfinished (typing "light" finds "lighthouse")."""
    return " ".join(f'"{w}"' for w in words[:-1]) + f' "{words[-1]}"*'


def _tsquery(words: Sequence[str]) -> str:
    return " & ".join([*words[:-1], f"{words[-1]}:*"])


class Gallery:
    """Reads and changes images on behalf of a viewer; every rule is checked here, whatever the page sends."""

    def __init__(self, studio: Studio) -> None:
        self.studio = studio
        self.sessions = studio.sessions
        self.images = studio.images

    # -- reading -------------------------------------------------------------------------------------------------
    def page(self, viewer: Viewer, query: GalleryQuery) -> GalleryPage:
        """One page of thumbnails; reads at most `limit + 1` rows whatever the table's size."""
        limit = _check_query(query)
        newest = query.sort == "newest"
        conditions, order_key = self._where(viewer, query)
        stmt = select(Generation, User.username)
        if order_key is not Generation.id:
            stmt = stmt.select_from(_FTS).join(Generation, Generation.id == _FTS.c.rowid)
        if query.after is not None:
            conditions.append(order_key < query.after if newest else order_key > query.after)
        stmt = (
            stmt.join(User, User.id == Generation.user_id)
            .where(*conditions)
            .order_by(order_key.desc() if newest else order_key.asc())
            .limit(limit + 1)
        )
        with self.sessions() as session:
            rows = session.execute(stmt).all()
        items = [GenerationRecord.from_row(row, name) for row, name in rows[:limit]]
        self.studio.shown.remember(viewer.id, ((r.store, r.image_key) for r in items if r.store and r.image_key))
        return GalleryPage(items, items[-1].id if len(rows) > limit else None)

    def count(self, viewer: Viewer, query: GalleryQuery) -> int:
        """How many images the query finds on every page together (the pager's "of N")."""
        _check_query(query)
        conditions, order_key = self._where(viewer, query)
        stmt = select(func.count(Generation.id))
        if order_key is not Generation.id:
            stmt = stmt.select_from(_FTS).join(Generation, Generation.id == _FTS.c.rowid)
        with self.sessions() as session:
            return int(session.scalar(stmt.where(*conditions)) or 0)

    def _where(self, viewer: Viewer, query: GalleryQuery) -> tuple[list[ColumnElement[bool]], ColumnElement[int]]:
        """The query's conditions, and the key its rows are ordered by: on SQLite a search is driven by the search
        index in id order (a common word stops after one page, a rare one has few ids)."""
        words = search_words(query.search)
        conditions = [_VISIBLE, *self._filters(query)]
        conditions.append(Generation.user_id == viewer.id if query.scope == "mine" else _SHARED)
        if words and self.studio.engine.dialect.name == "sqlite":
            conditions.append(_FTS_MATCH(_fts_query(words)))
            return conditions, _FTS.c.rowid
        if words:
            conditions.append(_PG_DOCUMENT.op("@@")(func.to_tsquery(literal_column("'simple'"), _tsquery(words))))
        return conditions, Generation.id

    @staticmethod
    def _filters(query: GalleryQuery) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if query.favourites_only:
            conditions.append(Generation.is_favourite == true())
        if query.date_from is not None:
            conditions.append(Generation.created_at >= datetime.combine(query.date_from, time()))
        if query.date_to is not None:
            conditions.append(Generation.created_at < datetime.combine(query.date_to + timedelta(days=1), time()))
        if query.steps:
            conditions.append(Generation.steps.in_(sorted(set(query.steps))))
        if query.generator:
            conditions.append(Generation.generator == query.generator)
        if query.model:
            conditions.append(Generation.model == query.model)
        return conditions

    def detail(self, viewer: Viewer, generation_id: int) -> GenerationRecord:
        """One image, if the viewer may see it: their own, a shared one, or any for an administrator."""
        generation_id = record_id(generation_id)
        with self.sessions() as session:
            found = session.execute(_with_owner(Generation.id == generation_id)).first()
            if found is None or found[0].deleted_at is not None:
                raise NotFound("That image does not exist, or it was deleted.")
            row, username = found
            if not _may_see(session, viewer, row.user_id, row.is_public, row.status):
                raise NotFound("That image does not exist, or it is not shared.")
            return GenerationRecord.from_row(row, username)

    def image_of(self, viewer: Viewer, generation_id: int) -> tuple[str, str]:
        """(store, key) of an image the viewer may see, as `detail` decides, read without the rest of the row:
        the image route asks this for every thumbnail."""
        generation_id = record_id(generation_id)
        with self.sessions() as session:
            found = session.execute(
                select(Generation.store, Generation.image_key, Generation.user_id, Generation.is_public,
                       Generation.status)
                .where(Generation.id == generation_id, Generation.deleted_at.is_(None))
            ).first()
            if found is None or found.image_key is None:
                raise NotFound("That image does not exist, or it was deleted.")
            if not _may_see(session, viewer, found.user_id, found.is_public, found.status):
                raise NotFound("That image does not exist, or it is not shared.")
            return found.store, found.image_key

    def details(self, viewer: Viewer, generation_ids: Sequence[int]) -> list[GenerationRecord]:
        """Several images in the order asked, in one query; NotFound unless the viewer may see every one."""
        generation_ids = [record_id(i) for i in generation_ids]
        with self.sessions() as session:
            found = {row.id: (row, name) for row, name in
                     session.execute(_with_owner(Generation.id.in_(generation_ids), Generation.deleted_at.is_(None)))}
            actor_is_admin: bool | None = None
            records = []
            for generation_id in generation_ids:
                if generation_id not in found:
                    raise NotFound("That image does not exist, or it was deleted.")
                row, username = found[generation_id]
                if not _owned_or_shared(viewer, row.user_id, row.is_public, row.status):
                    if actor_is_admin is None:
                        actor_is_admin = _actor(session, viewer).is_admin
                    if not actor_is_admin:
                        raise NotFound("That image does not exist, or it is not shared.")
                records.append(GenerationRecord.from_row(row, username))
            return records

    def can_change(self, viewer: Viewer, record: GenerationRecord) -> bool:
        """Whether the viewer may share, favourite or delete it (to show the buttons; the actions check again)."""
        if record.user_id == viewer.id:
            return True
        with self.sessions() as session:
            user = session.get(User, viewer.id)
            return bool(user and user.enabled and user.is_admin)

    def failures(self, viewer: Viewer, *, statuses: Iterable[str] = FAILURE_STATUSES,
                 limit: int = 20) -> list[GenerationRecord]:
        """The viewer's recent attempts that gave no image in the gallery, newest first, with their reasons."""
        wanted = [s for s in statuses if s in FAILURE_STATUSES]
        if not wanted:
            return []
        stmt = (
            _with_owner(Generation.user_id == viewer.id, Generation.status.in_(wanted),
                        Generation.deleted_at.is_(None))
            .order_by(Generation.created_at.desc(), Generation.id.desc())
            .limit(max(1, min(limit, MAX_PAGE_SIZE)))
        )
        with self.sessions() as session:
            return [GenerationRecord.from_row(row, name) for row, name in session.execute(stmt)]

    # -- images --------------------------------------------------------------------------------------------------
    def image_bytes(self, viewer: Viewer, generation_id: int) -> tuple[GenerationRecord, bytes]:
        """The full image, if the viewer may see it."""
        record = self.detail(viewer, generation_id)
        return record, self.images.read(record)

    # -- changing ------------------------------------------------------------------------------------------------
    def set_shared(self, viewer: Viewer, generation_id: int, shared: bool) -> GenerationRecord:
        """Share to (or take back from) the community gallery. The store switches first (a copied address of an
        unshared image stops working); if it cannot, nothing changes."""
        with self.sessions() as session:
            row, username = self._owned(session, viewer, [generation_id])[0]
            record = GenerationRecord.from_row(row, username)
        if record.status == "succeeded" and record.is_public != bool(shared):
            self.images.set_private(record, not shared)
        return self._change(viewer, generation_id, is_public=bool(shared))

    def set_favourite(self, viewer: Viewer, generation_id: int, favourite: bool) -> GenerationRecord:
        return self._change(viewer, generation_id, is_favourite=bool(favourite))

    def _change(self, viewer: Viewer, generation_id: int, **values: bool) -> GenerationRecord:
        with self.sessions.begin() as session:
            row, username = self._owned(session, viewer, [generation_id])[0]
            if row.status != "succeeded":
                raise InvalidInput("Only finished images can be shared or marked as favourites.")
            for name, value in values.items():
                setattr(row, name, value)
            session.flush()
            return GenerationRecord.from_row(row, username)

    def delete(self, viewer: Viewer, generation_id: int) -> None:
        """Delete one image: its stored files, then its place in every gallery. Owner or administrator only."""
        self._delete(viewer, [generation_id], own_only=False)

    def delete_many(self, viewer: Viewer, generation_ids: Sequence[int]) -> int:
        """Delete several of the viewer's own images; if any is not theirs, nothing is deleted."""
        ids = selected_ids(generation_ids, MAX_BULK_DELETE, "delete")
        return self._delete(viewer, ids, own_only=True)

    def _delete(self, viewer: Viewer, ids: Sequence[int], *, own_only: bool) -> int:
        with self.sessions() as session:
            owned = self._owned(session, viewer, ids, own_only=own_only)
            records = [GenerationRecord.from_row(row, name) for row, name in owned]
        for record in records:
            if record.status != "succeeded":
                raise InvalidInput("Only finished images can be deleted.")
        deleted: list[int] = []
        try:
            # Files first: if the store refuses, the image stays listed and the user can try again, rather than
            # vanishing from the app while its file lives on at a public URL.
            for record in records:
                self._delete_files(record)
                deleted.append(record.id)
        finally:
            if deleted:
                with self.sessions.begin() as session:
                    session.execute(
                        update(Generation)
                        .where(Generation.id.in_(deleted), Generation.deleted_at.is_(None))
                        .values(deleted_at=utcnow(), is_public=False, is_favourite=False)
                    )
                for record in records:  # committed: an uploaded reference goes with the last one using it
                    if record.id in deleted:
                        references.release(self.sessions, self.images.stores, record.reference_key,
                                           record.reference_store)
        return len(deleted)

    def _delete_files(self, record: GenerationRecord) -> None:
        self.images.delete(record)

    def _owned(self, session: Session, viewer: Viewer, ids: Sequence[int], *,
               own_only: bool = False) -> list[tuple[Generation, str]]:
        """The rows, if the viewer may change every one of them; otherwise PermissionDenied and nothing changes."""
        rows = session.execute(_with_owner(Generation.id.in_(ids), Generation.deleted_at.is_(None))).all()
        if len(rows) != len(set(ids)):
            raise NotFound("That image does not exist, or it was deleted.")
        actor = _actor(session, viewer)
        for row, _name in rows:
            if row.user_id != actor.id and (own_only or not actor.is_admin):
                raise PermissionDenied("You can only change or delete your own images.")
        by_id = {row.id: (row, name) for row, name in rows}
        return [by_id[i] for i in ids]


def _with_owner(*conditions: object) -> Select[tuple[Generation, str]]:
    return select(Generation, User.username).join(User, User.id == Generation.user_id).where(*conditions)


def _owned_or_shared(viewer: Viewer, owner_id: int, is_public: bool, status: str) -> bool:
    return owner_id == viewer.id or (is_public and status == "succeeded")


def _may_see(session: Session, viewer: Viewer, owner_id: int, is_public: bool, status: str) -> bool:
    """Their own images, shared ones that succeeded, and any for an administrator."""
    return _owned_or_shared(viewer, owner_id, is_public, status) or _actor(session, viewer).is_admin


def _actor(session: Session, viewer: Viewer) -> User:
    """The viewer as the database knows them now: a disabled or removed account may change nothing."""
    user = session.get(User, viewer.id)
    if user is None or not user.enabled:
        raise PermissionDenied("Your account is disabled. Ask your administrator.")
    return user


def _check_query(query: GalleryQuery) -> int:
    if query.scope not in SCOPES:
        raise InvalidInput(f"Pick one of the galleries: {', '.join(SCOPES)}.")
    if query.sort not in SORTS:
        raise InvalidInput(f"Sort by one of: {', '.join(SORTS)}.")
    if query.generator is not None and query.generator not in GENERATORS:
        raise InvalidInput(f"The image source must be one of: {', '.join(GENERATORS)}.")
    if query.date_from and query.date_to and query.date_from > query.date_to:
        raise InvalidInput("The start date is after the end date.")
    if query.after is not None:
        record_id(query.after, "page")
    return max(1, min(int(query.limit), MAX_PAGE_SIZE))


def selected_ids(ids: Sequence[int], most: int, action: str) -> list[int]:
    """The ids picked, each once, in the order picked; refused when none or too many."""
    unique = list(dict.fromkeys(record_id(i) for i in ids))
    if not unique:
        raise InvalidInput(f"Select at least one image to {action}.")
    if len(unique) > most:
        raise InvalidInput(f"You can {action} up to {most} images at a time; you selected {len(unique)}.")
    return unique
