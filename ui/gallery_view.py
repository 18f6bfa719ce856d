"""The Gallery page's pieces: filters, the thumbnail grid with paging, selection, the detail dialog and failures."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from datetime import date
from functools import partial

import streamlit as st

from akari.accounts import CurrentUser
from akari.errors import AkariError
from akari.exports import zip_images
from akari.gallery import PAGE_SIZE, Gallery, GalleryPage, GalleryQuery, Scope
from akari.naming import download_name
from akari.records import GenerationRecord
from ui.context import get_studio
from ui.generate_view import OFFLINE_LABEL, mime_type, prefill
from ui.images import show_image
from ui.model_form import reuse_settings, show_model_details
from ui.model_views import with_model_filter
from ui.text import plain

# Widget keys (tests address widgets by these).
SCOPE_KEY = "gallery_scope"
SEARCH_KEY = "gallery_search"
SORT_KEY = "gallery_sort"
FAVOURITES_KEY = "gallery_favourites"
DATES_KEY = "gallery_dates"
STEPS_KEY = "gallery_steps"
GENERATOR_KEY = "gallery_generator"
SELECT_MODE_KEY = "gallery_select_mode"
PICK_PREFIX = "gallery_pick_"  # + id: one checkbox per card while selecting
OPEN_PREFIX = "gallery_open_"  # + id
NEWER_KEY = "gallery_newer"
OLDER_KEY = "gallery_older"
ZIP_KEY = "gallery_zip"
BULK_DELETE_KEY = "gallery_bulk_delete"
BULK_DELETE_CONFIRM_KEY = "gallery_bulk_delete_confirm"
BULK_DELETE_CANCEL_KEY = "gallery_bulk_delete_cancel"
CLEAR_SELECTION_KEY = "gallery_clear_selection"
FAILURE_STATUS_KEY = "gallery_failure_status"
DETAIL_DOWNLOAD_KEY = "gallery_detail_download"
DETAIL_RUN_AGAIN_KEY = "gallery_detail_run_again"
DETAIL_SHARE_KEY = "gallery_detail_share"
DETAIL_FAVOURITE_KEY = "gallery_detail_favourite"
DETAIL_DELETE_KEY = "gallery_detail_delete"
DETAIL_DELETE_CONFIRM_KEY = "gallery_detail_delete_confirm"
# The page's own state.
CURSORS_KEY = "gallery_cursors"  # keyset cursors of the pages seen: [None, after page 1, after page 2, ...]
SELECTED_KEY = "gallery_selected"  # ids picked for a ZIP or a bulk delete, in the order picked
CONFIRM_BULK_KEY = "gallery_confirm_bulk"
CONFIRM_DELETE_KEY = "gallery_confirm_delete"  # the id whose delete awaits confirmation
NOTICE_KEY = "gallery_notice"  # (kind, message) shown once after a rerun
DETAIL_PARAM = "id"  # ?id=N opens that image; the Generate page links here with it

GENERATE_PAGE = "pages/generate.py"
SCOPES = ("Mine", "Community")
SORTS = ("Newest first", "Oldest first")
GENERATORS = {"FLUX.1 [schnell]": "cloudflare", "Offline sketch": "offline"}
FAILURE_STATUSES = {"Failed": "failed", "Waiting for upload": "pending_upload"}
COLUMNS = 4
CAPTION_CHARS = 70


def page(user: CurrentUser) -> None:
    gallery = Gallery(get_studio())
    st.title("Gallery")
    if DETAIL_PARAM not in st.query_params:
        _notice()  # otherwise the dialog shows it, in front
    query = with_model_filter(_filters())  # the filter by model (ui/model_views.py)
    try:
        result = gallery.page(user, query)
    except AkariError as exc:
        st.error(plain(exc.message))
        return
    _selection_bar(gallery, user, query.scope)
    _grid(gallery, result, query)
    _pager(result)
    _failures(gallery, user)
    _open_detail(gallery, user)


# -- filters ---------------------------------------------------------------------------------------------------------
def _reset_paging() -> None:
    st.session_state[CURSORS_KEY] = [None]


def _filters() -> GalleryQuery:
    state = st.session_state
    state.setdefault(CURSORS_KEY, [None])
    top = st.columns([2, 3, 2], vertical_alignment="bottom")
    with top[0]:
        scope = st.segmented_control("Gallery", SCOPES, default="Mine", required=True, key=SCOPE_KEY,
                                     on_change=_reset_paging)
    with top[1]:
        search = st.text_input("Search prompts", key=SEARCH_KEY, placeholder="lighthouse at dusk",
                               on_change=_reset_paging, help="Finds images whose prompt has all these words; "
                               "the last word may be unfinished.")
    with top[2]:
        sort = st.segmented_control("Order", SORTS, default="Newest first", required=True, key=SORT_KEY,
                                    on_change=_reset_paging)
    with st.expander("Filters", icon=":material/filter_list:"):
        cols = st.columns([1, 2, 2, 2], vertical_alignment="bottom")
        with cols[0]:
            # A favourite is the owner's own mark, so it only filters one's own images.
            favourites = st.toggle("Favourites", key=FAVOURITES_KEY, on_change=_reset_paging,
                                   disabled=scope == "Community")
        with cols[1]:
            dates = st.date_input("Made between (UTC)", value=(), key=DATES_KEY, on_change=_reset_paging)
        with cols[2]:
            steps = st.pills("Steps", list(range(1, 9)), selection_mode="multi", key=STEPS_KEY,
                             on_change=_reset_paging)
        with cols[3]:
            generator = st.segmented_control("Made by", list(GENERATORS), key=GENERATOR_KEY, on_change=_reset_paging)
    date_from, date_to = _date_range(dates)
    scope_value: Scope = "community" if scope == "Community" else "mine"
    return GalleryQuery(
        scope=scope_value,
        search=search or "",
        favourites_only=bool(favourites) and scope_value == "mine",
        date_from=date_from,
        date_to=date_to,
        steps=tuple(steps or ()),
        generator=GENERATORS.get(generator) if generator else None,
        sort="oldest" if sort == "Oldest first" else "newest",
        after=state[CURSORS_KEY][-1],
        limit=PAGE_SIZE,
    )


def _date_range(value: object) -> tuple[date | None, date | None]:
    """The date input gives (), (start,) while picking, or (start, end)."""
    if isinstance(value, date):
        return value, value
    picked = [d for d in value if isinstance(d, date)] if isinstance(value, tuple | list) else []
    if not picked:
        return None, None
    return picked[0], picked[1] if len(picked) > 1 else None


# -- the grid --------------------------------------------------------------------------------------------------------
def _grid(gallery: Gallery, result: GalleryPage, query: GalleryQuery) -> None:
    if not result.items:
        if query.after is None:
            st.info(_empty_message(query), icon=":material/photo_library:")
        return
    selecting = bool(st.session_state.get(SELECT_MODE_KEY))
    selected = set(st.session_state.get(SELECTED_KEY, []))
    for start in range(0, len(result.items), COLUMNS):
        columns = st.columns(COLUMNS)
        for column, record in zip(columns, result.items[start:start + COLUMNS], strict=False):
            with column, st.container(border=True):
                show_image(record)
                st.caption(plain(_short(record.prompt)))
                label = _card_label(record, query.scope)
                if selecting:
                    st.checkbox(label, key=f"{PICK_PREFIX}{record.id}", value=record.id in selected,
                                on_change=_toggle_pick, args=(record.id,))
                else:
                    st.button(label, key=f"{OPEN_PREFIX}{record.id}", type="tertiary", on_click=_open,
                              args=(record.id,), icon=":material/open_in_full:", help="Open the image and its details")


def _card_label(record: GenerationRecord, scope: str) -> str:
    parts = [f"#{record.id}"]
    if scope == "community":
        parts.append(record.username)
    if record.is_favourite and scope == "mine":
        parts.append("★")
    if record.is_public and scope == "mine":
        parts.append("shared")
    if record.is_offline_sketch:
        parts.append(OFFLINE_LABEL)
    # Button labels read Markdown: the username is escaped so it shows as written.
    return plain(" · ".join(parts))


def _short(prompt: str) -> str:
    line = prompt.splitlines()[0] if prompt.strip() else prompt
    return line if len(line) <= CAPTION_CHARS else line[: CAPTION_CHARS - 1] + "…"


def _empty_message(query: GalleryQuery) -> str:
    if query.search or query.favourites_only or query.date_from or query.steps or query.generator:
        return "No images match these filters."
    if query.scope == "community":
        return "Nothing has been shared yet. Share one of your images from its details."
    return "Your images will appear here. Make one on the Generate page."


def _pager(result: GalleryPage) -> None:
    cursors = st.session_state[CURSORS_KEY]
    if len(cursors) == 1 and result.next_after is None:
        return
    with st.container(horizontal=True, vertical_alignment="center", horizontal_alignment="center"):
        st.button("Newer", key=NEWER_KEY, icon=":material/chevron_left:", disabled=len(cursors) == 1,
                  on_click=_newer)
        st.caption(f"Page {len(cursors)}")
        st.button("Older", key=OLDER_KEY, icon=":material/chevron_right:", icon_position="right",
                  disabled=result.next_after is None, on_click=_older, args=(result.next_after,))


def _newer() -> None:
    cursors = st.session_state[CURSORS_KEY]
    if len(cursors) > 1:
        cursors.pop()


def _older(after: int | None) -> None:
    if after is not None:
        st.session_state[CURSORS_KEY].append(after)


# -- selection and bulk actions -------------------------------------------------------------------------------------
def _toggle_pick(generation_id: int) -> None:
    selected: list[int] = st.session_state.setdefault(SELECTED_KEY, [])
    if st.session_state.get(f"{PICK_PREFIX}{generation_id}"):
        if generation_id not in selected:
            selected.append(generation_id)
    elif generation_id in selected:
        selected.remove(generation_id)


def _clear_selection() -> None:
    for generation_id in st.session_state.get(SELECTED_KEY, []):
        st.session_state.pop(f"{PICK_PREFIX}{generation_id}", None)
    st.session_state[SELECTED_KEY] = []
    st.session_state.pop(CONFIRM_BULK_KEY, None)


def _selection_bar(gallery: Gallery, user: CurrentUser, scope: str) -> None:
    with st.container(horizontal=True, vertical_alignment="center", gap="small"):
        st.toggle("Select", key=SELECT_MODE_KEY, help="Pick images to download as a ZIP or delete together.")
        selected: list[int] = st.session_state.get(SELECTED_KEY, [])
        if not st.session_state.get(SELECT_MODE_KEY) or not selected:
            return
        count = len(selected)
        st.download_button(
            f"Download {count} as ZIP",
            data=partial(_zip_bytes, gallery, user, tuple(selected)),
            file_name=f"akari-{count}-images.zip",
            mime="application/zip",
            key=ZIP_KEY,
            icon=":material/folder_zip:",
            on_click="ignore",
        )
        if scope == "mine":
            st.button(f"Delete {count}", key=BULK_DELETE_KEY, icon=":material/delete:",
                      on_click=lambda: st.session_state.__setitem__(CONFIRM_BULK_KEY, True))
        st.button("Clear selection", key=CLEAR_SELECTION_KEY, type="tertiary", on_click=_clear_selection)
    if st.session_state.get(CONFIRM_BULK_KEY) and scope == "mine":
        st.warning(f"Delete {count} image{'s' if count != 1 else ''} for good? Their files are removed too.")
        with st.container(horizontal=True, gap="small"):
            st.button("Delete them", key=BULK_DELETE_CONFIRM_KEY, type="primary", on_click=_bulk_delete,
                      args=(gallery, user, tuple(selected)))
            st.button("Keep them", key=BULK_DELETE_CANCEL_KEY,
                      on_click=lambda: st.session_state.pop(CONFIRM_BULK_KEY, None))


def _zip_bytes(gallery: Gallery, user: CurrentUser, ids: tuple[int, ...]) -> bytes:
    """Runs when the button is pressed (on its own thread): a refusal becomes a note inside the archive."""
    try:
        archive = zip_images(gallery, user, ids)
    except AkariError as exc:
        return _note_zip(exc.message)
    if archive.missing:
        missing = ", ".join(f"#{i}" for i in archive.missing)
        return _with_note(archive.data, f"These images could not be read from the store: {missing}.")
    return archive.data


def _note_zip(message: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", message + "\n")
    return buffer.getvalue()


def _with_note(data: bytes, message: str) -> bytes:
    buffer = io.BytesIO(data)
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr("README.txt", message + "\n")
    return buffer.getvalue()


def _bulk_delete(gallery: Gallery, user: CurrentUser, ids: tuple[int, ...]) -> None:
    st.session_state.pop(CONFIRM_BULK_KEY, None)
    try:
        count = gallery.delete_many(user, ids)
    except AkariError as exc:
        _flash("error", exc.message)
        return
    _clear_selection()
    _reset_paging()
    _flash("success", f"Deleted {count} image{'s' if count != 1 else ''}.")


# -- the detail dialog -----------------------------------------------------------------------------------------------
def _open(generation_id: int) -> None:
    st.query_params[DETAIL_PARAM] = str(generation_id)
    st.session_state.pop(CONFIRM_DELETE_KEY, None)


def _close() -> None:
    st.query_params.pop(DETAIL_PARAM, None)
    st.session_state.pop(CONFIRM_DELETE_KEY, None)


def _detail_id() -> int | None:
    raw = st.query_params.get(DETAIL_PARAM)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        _close()
        st.warning("That link does not point to an image.", icon=":material/image_not_supported:")
        return None


def _open_detail(gallery: Gallery, user: CurrentUser) -> None:
    generation_id = _detail_id()
    if generation_id is None:
        return
    try:
        gallery.detail(user, generation_id)
    except AkariError as exc:
        _close()
        st.warning(plain(exc.message), icon=":material/image_not_supported:")
        return
    _detail_dialog(gallery, user, generation_id)


@st.dialog("Image", width="large", on_dismiss=_close)
def _detail_dialog(gallery: Gallery, user: CurrentUser, generation_id: int) -> None:
    # Read afresh on every run of the dialog: its own reruns reuse the arguments of the first call.
    try:
        record = gallery.detail(user, generation_id)
    except AkariError as exc:
        st.warning(plain(exc.message))
        return
    _notice()
    picture, about = st.columns([3, 2])
    with picture:
        if record.is_offline_sketch:
            st.caption(f":material/draw: {OFFLINE_LABEL}: drawn locally from the prompt's words.")
        if record.has_image:
            show_image(record, "full")
        elif record.status == "failed":
            st.error(plain(record.error_message or "This generation failed."))
    with about:
        st.code(record.prompt, language=None, wrap_lines=True)  # plain text, with a copy button
        st.markdown(_facts(record))
        _detail_actions(gallery, user, record)
        show_model_details(record)  # the model, its inputs, Reuse settings and Use as reference (ui/model_form.py)


def _facts(record: GenerationRecord) -> str:
    """Settings and timings as a small table; every value from a user is escaped."""
    made_by = OFFLINE_LABEL if record.is_offline_sketch else record.model
    rows = [
        ("By", plain(record.username)),
        ("When (UTC)", record.created_at.strftime("%Y-%m-%d %H:%M:%S")),
        ("Steps", str(record.steps)),
        ("Seed", str(record.seed)),
        ("Made by", plain(f"{made_by} ({record.generator})")),
        ("Stored on", plain(record.store)),
    ]
    if record.width and record.height:
        rows.append(("Size", f"{record.width}×{record.height} {plain((record.image_format or '').upper())}"))
    if record.generate_ms is not None:
        timing = f"{record.generate_ms / 1000:.2f} s to generate"
        if record.store_ms is not None:
            timing += f" + {record.store_ms / 1000:.2f} s to store"
        rows.append(("Time to image", timing))
    if record.neurons:
        rows.append(("Estimated cost", f"{record.neurons:g} neurons"))
    rows.append(("Shared", "yes" if record.is_public else "no"))
    return "| | |\n|---|---|\n" + "\n".join(f"| {name} | {value} |" for name, value in rows)


def _detail_actions(gallery: Gallery, user: CurrentUser, record: GenerationRecord) -> None:
    """Buttons are read in the dialog's body, not in callbacks: a change then reruns the whole page (the grid
    shows it) and Run again can switch pages."""
    mine = gallery.can_change(user, record) and record.status == "succeeded"
    with st.container(horizontal=True, gap="small"):
        if record.has_image:
            st.download_button(
                "Download",
                data=partial(_download, gallery, user, record.id),
                file_name=download_name(record),
                mime=mime_type(record),
                key=DETAIL_DOWNLOAD_KEY,
                icon=":material/download:",
                on_click="ignore",
            )
        run_again = st.button("Run again", key=DETAIL_RUN_AGAIN_KEY, icon=":material/replay:",
                              help="Open Generate with this prompt, steps and seed.")
        share = favourite = delete = False
        if mine:
            share = st.button("Unshare" if record.is_public else "Share", key=DETAIL_SHARE_KEY,
                              icon=":material/group:", help="Shared images appear in everyone's community gallery.")
            favourite = st.button("Unfavourite" if record.is_favourite else "Favourite", key=DETAIL_FAVOURITE_KEY,
                                  icon=":material/star:")
            delete = st.button("Delete", key=DETAIL_DELETE_KEY, icon=":material/delete:")
    if run_again:
        prefill(record.prompt, record.steps, record.seed)
        reuse_settings(record)  # the same model and inputs too (ui/model_form.py)
        _close()
        st.switch_page(GENERATE_PAGE)
    if share:
        _act(partial(gallery.set_shared, user, record.id, not record.is_public),
             "Taken back from the community." if record.is_public else "Shared with the community.")
    if favourite:
        _act(partial(gallery.set_favourite, user, record.id, not record.is_favourite), None)
    if delete:
        st.session_state[CONFIRM_DELETE_KEY] = record.id
    if mine and st.session_state.get(CONFIRM_DELETE_KEY) == record.id:
        st.warning("Delete this image for good? Its file is removed too.")
        if st.button("Delete it", key=DETAIL_DELETE_CONFIRM_KEY, type="primary"):
            _delete(gallery, user, record.id)


def _download(gallery: Gallery, user: CurrentUser, generation_id: int) -> bytes:
    """Runs when the button is pressed, on its own thread."""
    try:
        return gallery.image_bytes(user, generation_id)[1]
    except AkariError as exc:
        return exc.message.encode()


def _act(change: Callable[[], object], success: str | None) -> None:
    try:
        change()
    except AkariError as exc:
        _flash("error", exc.message)
    else:
        if success:
            _flash("success", success)
    st.rerun()


def _delete(gallery: Gallery, user: CurrentUser, generation_id: int) -> None:
    try:
        gallery.delete(user, generation_id)
    except AkariError as exc:
        _flash("error", exc.message)
        st.session_state.pop(CONFIRM_DELETE_KEY, None)
        st.rerun()
    _close()
    selected = st.session_state.get(SELECTED_KEY, [])
    if generation_id in selected:
        selected.remove(generation_id)
    _flash("success", "Image deleted.")
    st.rerun()


# -- failures and notices --------------------------------------------------------------------------------------------
def _failures(gallery: Gallery, user: CurrentUser) -> None:
    with st.expander("Recent failures", icon=":material/error:"):
        picked = st.pills("Show", list(FAILURE_STATUSES), selection_mode="multi", default=list(FAILURE_STATUSES),
                          key=FAILURE_STATUS_KEY)
        records = gallery.failures(user, statuses=[FAILURE_STATUSES[p] for p in picked or ()])
        if not records:
            st.caption("No failed generations. Failures are not in the grid; they are listed here with the reason.")
        for record in records:
            with st.container(border=True):
                when = record.created_at.strftime("%Y-%m-%d %H:%M")
                status = "Waiting for upload" if record.status == "pending_upload" else "Failed"
                st.caption(f"#{record.id} · {when} UTC · {status} · {plain(record.error_reason or 'unknown')}")
                st.text(_short(record.prompt))
                if record.error_message:
                    st.text(record.error_message)


def _flash(kind: str, message: str) -> None:
    st.session_state[NOTICE_KEY] = (kind, message)


def _notice() -> None:
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        kind, message = notice
        (st.error if kind == "error" else st.success)(plain(message))


