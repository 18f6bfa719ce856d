"""Several images in one download: a ZIP of the originals the viewer may see, with their prompts in a CSV."""

from __future__ import annotations

import csv
import io
import logging
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

from akari.errors import NotFound, StoreError
from akari.gallery import Gallery, Viewer, selected_ids
from akari.naming import download_name
from akari.spreadsheets import spreadsheet_safe

log = logging.getLogger("akari.exports")

MAX_ZIP_IMAGES = 50  # each image is read into memory to build the archive
MANIFEST_COLUMNS = ("file", "id", "prompt", "steps", "seed", "model", "created_at", "by")


@dataclass(frozen=True)
class ZipArchive:
    data: bytes
    count: int
    missing: tuple[int, ...]  # ids whose files could not be read


def zip_images(gallery: Gallery, viewer: Viewer, generation_ids: Sequence[int]) -> ZipArchive:
    """Selected images (each one the viewer may see) in one ZIP, with their prompts and settings in prompts.csv."""
    ids = selected_ids(generation_ids, MAX_ZIP_IMAGES, "download")
    records = gallery.details(viewer, ids)
    buffer = io.BytesIO()
    missing: list[int] = []
    manifest = io.StringIO()
    writer = csv.writer(manifest)
    writer.writerow(MANIFEST_COLUMNS)
    # Images are already compressed: storing them is as small and much faster than deflating.
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for record in records:
            try:
                data = gallery.images.read(record)
            except (NotFound, StoreError) as exc:
                log.warning("zip: image %s unreadable: %s", record.id, exc.log_line())
                missing.append(record.id)
                continue
            name = download_name(record)
            archive.writestr(name, data)
            writer.writerow([name, record.id, spreadsheet_safe(record.prompt), record.steps, record.seed,
                             record.model, record.created_at.isoformat(sep=" ", timespec="seconds"),
                             spreadsheet_safe(record.username)])
        archive.writestr("prompts.csv", manifest.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
    return ZipArchive(buffer.getvalue(), len(records) - len(missing), tuple(missing))
