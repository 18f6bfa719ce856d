"""The Gallery page's pieces: filters, the thumbnail grid with paging, selection, the detail dialog and failures."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from datetime import date
from functools import partial

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from akari.accounts import CurrentUser
from akari.errors import AkariError
from akari.exports import zip_images
from akari.gallery import PAGE_SIZE, Gallery, GalleryPage, GalleryQuery, Scope
from akari.inputs import record_id
from akari.naming import download_name
from akari.records import GenerationRecord
from ui.context import get_studio
from ui.generate_view import OFFLINE_LABEL, mime_type, prefill
from ui.images import show_image
from ui.layout import two_up_on_phone
from ui.model_form import reuse_settings, show_model_details
from ui.model_views import model_chip, pick_model
from ui.text import plain

# Widget keys (tests address widgets by these).
# Filters and search are bound to the URL under these names (a link shares them): /gallery?q=fox&order=...
SCOPE_KEY = "scope"
SEARCH_KEY = "q"
SORT_KEY = "order"
FAVOURITES_KEY = "favourites"
DATES_KEY = "made"
STEPS_KEY = "steps"
GENERATOR_KEY = "made_by"
CHIP_PREFIX = "gallery_chip_"  # + filter: the removable chip of an active filter
SELECT_MODE_KEY = "gallery_select_mode"
PICK_PREFIX = "gallery_pick_"  # + id: one checkbox per card while selecting
OPEN_PREFIX = "gallery_open_"  # + id: the thumbnail itself (an invisible button over the card)
CARD_PREFIX = "gallery_card_"  # + id
PREVIOUS_KEY = "gallery_previous"  # the page before: "Newer" in newest-first order, "Older" in oldest-first
NEXT_KEY = "gallery_next"
DETAIL_PREVIOUS_KEY = "gallery_detail_previous"
DETAIL_NEXT_KEY = "gallery_detail_next"
ZIP_KEY = "gallery_zip"
BULK_DELETE_KEY = "gallery_bulk_delete"
BULK_DELETE_CONFIRM_KEY = "gallery_bulk_delete_confirm"
BULK_DELETE_CANCEL_KEY = "gallery_bulk_delete_cancel"
CLEAR_SELECTION_KEY = "gallery_clear_selection"
FAILURE_STATUS_KEY = "gallery_failure_status"
FAILURES_OPEN_KEY = "gallery_failures_open"
DETAIL_DOWNLOAD_KEY = "gallery_detail_download"
DETAIL_REUSE_KEY = "gallery_detail_reuse"
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
ON_SHOW_KEY = "gallery_on_show"  # ids of the grid on show, in order: the lightbox's previous and next
SCROLL_KEY = "gallery_scroll_to_top"  # set by the pager: the next run scrolls the page back to its top
BAD_LINK_KEY = "gallery_bad_link"  # why ?id= was refused, said until the next action
DETAIL_PARAM = "id"  # ?id=N opens that image; the Generate page links here with it

GENERATE_PAGE = "pages/generate.py"
SCOPES = ("Mine", "Community")
SORTS = ("Newest first", "Oldest first")
GENERATORS = {"Workers AI": "cloudflare", "Offline sketch": "offline"}
FAILURE_STATUSES = {"Failed": "failed", "Waiting for upload": "pending_upload"}
COLUMNS = 6  # 2 on a phone (see GRID_CSS)
CAPTION_CHARS = 70
# A dense, even grid: square thumbnails, one line of prompt, the whole card a button; the
# lightbox's image never taller than the screen.
GRID_CSS = """<style>
[class*="st-key-gallery_card_"] { position: relative; }
[class*="st-key-gallery_card_"] [data-testid="stImage"] img { aspect-ratio: 1 / 1; object-fit: cover; }
[class*="st-key-gallery_card_"] [data-testid="stElementContainer"] { max-width: 100%; min-width: 0; }
[class*="st-key-gallery_card_"] [data-testid="stText"],
[class*="st-key-gallery_card_"] [data-testid="stText"] * { white-space: nowrap !important; overflow: hidden;
  text-overflow: ellipsis; font-size: 0.85rem; max-width: 100%; }
[class*="st-key-gallery_open_"] { position: absolute !important; inset: 0; z-index: 2; margin: 0 !important;
  width: auto !important; height: auto !important; }
[class*="st-key-gallery_open_"] * { position: static !important; }
[class*="st-key-gallery_open_"] button { position: absolute !important; inset: 0; width: auto !important;
  height: auto !important; max-width: none !important;
  opacity: 0; cursor: zoom-in; }
div[role="dialog"] [data-testid="stImage"] img { max-height: calc(100vh - 14rem); width: auto; max-width: 100%;
  object-fit: contain; margin: 0 auto; display: block; }
</style>"""
SCROLL_TO_TOP = """<script>
for (const el of document.querySelectorAll('[data-testid="stMain"], [data-testid="stAppViewContainer"]')) {
  el.scrollTo({top: 0}); }
window.scrollTo({top: 0});
</script><!-- {n} -->"""


def page(user: CurrentUser) -> None:
    gallery = Gallery(get_studio())
    st.html(GRID_CSS)
    st.html(two_up_on_phone("gallery_grid"))
    scrolls = st.session_state.pop(SCROLL_KEY, 0)
    if scrolls:
        st.html(SCROLL_TO_TOP.replace("{n}", str(scrolls)), unsafe_allow_javascript=True)
    st.title("Gallery")
    bad_link_slot = st.empty()  # filled at the end, once the ?id= of the address has been looked at
    if DETAIL_PARAM not in st.query_params:
        _notice()  # otherwise the dialog shows it, in front
    query = _filters()
    try:
        result = gallery.page(user, query)
        total = gallery.count(user, query)
    except AkariError as exc:
        st.error(plain(exc.message))
        return
    _chips(query)
    _selection_bar(gallery, user, query.scope)
    waiting = _waiting_uploads(gallery, user, query)
    _grid(gallery, [*waiting, *result.items], query)
    _pager(result, total, query)
    _failures(gallery, user)
    _open_detail(gallery, user)
    _show_bad_link(bad_link_slot)


# -- filters ---------------------------------------------------------------------------------------------------------
def _reset_paging() -> None:
    st.session_state[CURSORS_KEY] = [None]
    st.session_state.pop(BAD_LINK_KEY, None)


def _filters() -> GalleryQuery:
    state = st.session_state
    state.setdefault(CURSORS_KEY, [None])
    top = st.columns([2, 3, 2], vertical_alignment="bottom")
    with top[0]:
        scope = st.segmented_control("Gallery", SCOPES, default="Mine", required=True, key=SCOPE_KEY,
                                     on_change=_reset_paging, bind="query-params")
    with top[1]:
        search = st.text_input("Search prompts", key=SEARCH_KEY, placeholder="lighthouse at dusk",
                               on_change=_reset_paging, bind="query-params",
                               help="Finds images whose prompt has all these words; the last word may be unfinished.")
    with top[2]:
        sort = st.segmented_control("Order", SORTS, default="Newest first", required=True, key=SORT_KEY,
                                    on_change=_reset_paging, bind="query-params")
    with st.expander("Filters", icon=":material/filter_list:"):
        cols = st.columns([1, 2, 2, 2, 2], vertical_alignment="bottom")
        with cols[0]:
            # A favourite is the owner's own mark, so it only filters one's own images.
            favourites = st.toggle("Favourites", key=FAVOURITES_KEY, on_change=_reset_paging,
                                   disabled=scope == "Community", bind="query-params")
        with cols[1]:
            dates = st.date_input("Made between (UTC)", value=(), key=DATES_KEY, on_change=_reset_paging,
                                  bind="query-params")
        with cols[2]:
            steps = st.pills("Steps", list(range(1, 9)), selection_mode="multi", key=STEPS_KEY,
                             on_change=_reset_paging, bind="query-params")
        with cols[3]:
            generator = st.segmented_control("Made by", list(GENERATORS), key=GENERATOR_KEY, on_change=_reset_paging,
                                             bind="query-params")
        with cols[4]:
            model = pick_model()  # the filter by model (ui/model_views.py)
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
        model=model,
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


# -- chips -------------------------------------------------------------------------------------------------------------
def _active_filters(query: GalleryQuery) -> list[tuple[str, str, object]]:
    """(name, the chip's words, the widget's cleared value) for every filter that narrows the grid now."""
    chips: list[tuple[str, str, object]] = []
    if query.search.strip():
        chips.append((SEARCH_KEY, f"Search: {query.search.strip()}", ""))
    if query.favourites_only:
        chips.append((FAVOURITES_KEY, "Favourites", False))
    if query.date_from or query.date_to:
        span = f"{query.date_from or '…'} to {query.date_to or '…'}"
        chips.append((DATES_KEY, f"Made {span}", ()))
    if query.steps:
        chips.append((STEPS_KEY, "Steps " + ", ".join(str(n) for n in sorted(query.steps)), []))
    if query.generator:
        label = next(name for name, value in GENERATORS.items() if value == query.generator)
        chips.append((GENERATOR_KEY, label, None))
    if chip := model_chip(query):
        chips.append(chip)
    return chips


def _clear_filter(key: str, cleared: object) -> None:
    st.session_state[key] = cleared
    _reset_paging()


def _chips(query: GalleryQuery) -> None:
    """Active filters stay visible (a closed Filters panel hides nothing) and each goes with one click."""
    chips = _active_filters(query)
    if not chips:
        return
    with st.container(horizontal=True, gap="small", key="gallery_chips"):
        for name, words, cleared in chips:
            st.button(plain(words), key=f"{CHIP_PREFIX}{name}", icon=":material/close:", icon_position="right",
                      help="Remove this filter", on_click=_clear_filter, args=(name, cleared))


# -- the grid --------------------------------------------------------------------------------------------------------
def _waiting_uploads(gallery: Gallery, user: CurrentUser, query: GalleryQuery) -> list[GenerationRecord]:
    """My images made but not stored yet lead the first page of Mine (with a badge), instead of vanishing."""
    if query.scope != "mine" or query.after is not None or _active_filters(query):
        return []
    return gallery.failures(user, statuses=["pending_upload"], limit=COLUMNS)


def _grid(gallery: Gallery, records: list[GenerationRecord], query: GalleryQuery) -> None:
    st.session_state[ON_SHOW_KEY] = [record.id for record in records]
    if not records:
        if query.after is None:
            st.info(_empty_message(query), icon=":material/photo_library:")
        return
    selecting = bool(st.session_state.get(SELECT_MODE_KEY))
    selected = set(st.session_state.get(SELECTED_KEY, []))
    sketches = [record.is_offline_sketch for record in records]
    if all(sketches):  # said once for the page, not on every card
        st.caption(f":material/draw: {OFFLINE_LABEL}: these images were drawn locally from their prompts.")
    with st.container(key="gallery_grid"):
        for start in range(0, len(records), COLUMNS):
            columns = st.columns(COLUMNS, gap="small")
            for column, record in zip(columns, records[start:start + COLUMNS], strict=False):
                with column, st.container(border=True, key=f"{CARD_PREFIX}{record.id}", gap="small"):
                    if record.status == "pending_upload":
                        st.badge("Waiting for upload", icon=":material/cloud_upload:", color="blue")
                    if record.is_offline_sketch and not all(sketches):
                        st.badge("Sketch, not AI", icon=":material/draw:", color="orange")
                    show_image(record)
                    st.text(_card_line(record, query.scope))  # one line; the lightbox has it all
                    if selecting:
                        st.checkbox(_card_label(record), key=f"{PICK_PREFIX}{record.id}", value=record.id in selected,
                                    on_change=_toggle_pick, args=(record.id,))
                    else:
                        st.button(f"Open {_card_label(record)}", key=f"{OPEN_PREFIX}{record.id}", on_click=_open,
                                  args=(record.id,))


def _card_line(record: GenerationRecord, scope: str) -> str:
    """One plain line under a thumbnail: the prompt (with who made it in Community)."""
    line = _short(record.prompt)
    return f"{record.username}: {line}" if scope == "community" else line


def _card_label(record: GenerationRecord) -> str:
    """What a screen reader (and the select checkbox) says for a card; button labels read Markdown, so escaped."""
    return plain(f"#{record.id} {_short(record.prompt)}")


def _short(prompt: str) -> str:
    line = prompt.splitlines()[0] if prompt.strip() else prompt
    return line if len(line) <= CAPTION_CHARS else line[: CAPTION_CHARS - 1] + "…"


def _empty_message(query: GalleryQuery) -> str:
    if query.search or query.favourites_only or query.date_from or query.steps or query.generator:
        return "No images match these filters."
    if query.scope == "community":
        return "Nothing has been shared yet. Share one of your images from its details."
    return "Your images will appear here. Make one on the Generate page."


def _pager(result: GalleryPage, total: int, query: GalleryQuery) -> None:
    """Where you are ("25–48 of 130") and the pages either side, named for what they hold in this order."""
    cursors = st.session_state[CURSORS_KEY]
    if len(cursors) == 1 and result.next_after is None:
        if total:
            st.caption(f"{total:,} image{'s' if total != 1 else ''}")
        return
    first = (len(cursors) - 1) * PAGE_SIZE + 1
    last = first + len(result.items) - 1
    back, forward = ("Newer", "Older") if query.sort == "newest" else ("Older", "Newer")
    with st.container(horizontal=True, vertical_alignment="center", horizontal_alignment="center"):
        st.button(back, key=PREVIOUS_KEY, icon=":material/chevron_left:", disabled=len(cursors) == 1,
                  on_click=_previous)
        st.caption(f"{first:,}–{last:,} of {total:,} · page {len(cursors)}")
        st.button(forward, key=NEXT_KEY, icon=":material/chevron_right:", icon_position="right",
                  disabled=result.next_after is None, on_click=_next, args=(result.next_after,))


def _scroll_to_top() -> None:
    st.session_state[SCROLL_KEY] = st.session_state.get(SCROLL_KEY, 0) + 1


def _previous() -> None:
    cursors = st.session_state[CURSORS_KEY]
    if len(cursors) > 1:
        cursors.pop()
        _scroll_to_top()


def _next(after: int | None) -> None:
    if after is not None:
        st.session_state[CURSORS_KEY].append(after)
        _scroll_to_top()


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
    st.session_state.pop(BAD_LINK_KEY, None)
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
        return record_id(raw)  # the core's rule for ids (akari/inputs.py): no huge, negative or non-ASCII numbers
    except AkariError as exc:
        _close()
        _bad_link(exc.message)
        return None


def _open_detail(gallery: Gallery, user: CurrentUser) -> None:
    generation_id = _detail_id()
    if generation_id is None:
        return
    try:
        gallery.detail(user, generation_id)
    except AkariError as exc:
        _close()
        _bad_link(exc.message)
        return
    _detail_dialog(gallery, user, generation_id)


def _bad_link(message: str) -> None:
    """Said until the person does something else: a rerun moments later (the address losing ?id=) keeps it."""
    st.session_state[BAD_LINK_KEY] = message


def _show_bad_link(slot: DeltaGenerator) -> None:
    message = st.session_state.get(BAD_LINK_KEY)
    if message:
        slot.warning(plain(message), icon=":material/image_not_supported:")


@st.dialog("Image", width="large", on_dismiss=_close)
def _detail_dialog(gallery: Gallery, user: CurrentUser, generation_id: int) -> None:
    # Read afresh on every run of the dialog: its own reruns reuse the arguments of the first call.
    try:
        record = gallery.detail(user, generation_id)
    except AkariError as exc:
        st.warning(plain(exc.message))
        return
    _notice()
    _neighbours(record.id)
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


def _neighbours(generation_id: int) -> None:
    """Previous and next image of the grid on show; the arrow keys press them."""
    on_show: list[int] = st.session_state.get(ON_SHOW_KEY, [])
    where = on_show.index(generation_id) if generation_id in on_show else None
    before = on_show[where - 1] if where is not None and where > 0 else None
    after = on_show[where + 1] if where is not None and where + 1 < len(on_show) else None
    with st.container(horizontal=True, vertical_alignment="center", gap="small"):
        go_back = st.button("Previous", key=DETAIL_PREVIOUS_KEY, icon=":material/chevron_left:", shortcut="Left",
                            disabled=before is None)
        if where is not None:
            st.caption(f"{where + 1} of {len(on_show)} on this page")
        go_on = st.button("Next", key=DETAIL_NEXT_KEY, icon=":material/chevron_right:", icon_position="right",
                          shortcut="Right", disabled=after is None)
    target = before if go_back else after if go_on else None
    if target is not None:
        _open(target)
        st.rerun()  # the whole page: the dialog opens again on the other image


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
    shows it) and Reuse settings can switch pages."""
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
        reuse = st.button("Reuse settings", key=DETAIL_REUSE_KEY, icon=":material/tune:",
                          help="Open Generate with this prompt, steps and seed in the form; nothing is generated yet.")
        share = favourite = delete = False
        if mine:
            share = st.button("Unshare" if record.is_public else "Share", key=DETAIL_SHARE_KEY,
                              icon=":material/group:", help="Shared images appear in everyone's community gallery.")
            favourite = st.button("Unfavourite" if record.is_favourite else "Favourite", key=DETAIL_FAVOURITE_KEY,
                                  icon=":material/star:")
            delete = st.button("Delete", key=DETAIL_DELETE_KEY, icon=":material/delete:")
    if reuse:
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
    # Read only while open: most gallery clicks never look at the failures.
    with st.expander("Recent failures", icon=":material/error:", key=FAILURES_OPEN_KEY, on_change="rerun") as box:
        if not box.open:
            return
        picked = st.pills("Show", list(FAILURE_STATUSES), selection_mode="multi", default=list(FAILURE_STATUSES),
                          key=FAILURE_STATUS_KEY)
        records = gallery.failures(user, statuses=[FAILURE_STATUSES[p] for p in picked or ()])
        if not records:
            st.caption("No failed generations. Failures are not in the grid; they are listed here with the reason.")
        for record in records:
            with st.container(border=True):
                when = record.created_at.strftime("%Y-%m-%d %H:%M")
                status = "Waiting for upload" if record.status == "pending_upload" else "Failed"
                reason = (record.error_reason or "unknown").replace("_", " ")  # "safety_filter" reads "safety filter"
                st.caption(f"#{record.id} · {when} UTC · {status} · {plain(reason)}")
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


