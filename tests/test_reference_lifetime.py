"""An uploaded reference image is deleted with the last generation that uses it, and never one still in use."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from akari.config import load_settings
from akari.db.models import Generation
from akari.errors import AkariError, InvalidInput
from akari.gallery import Gallery
from akari.prompts import GenerationRequest
from akari.references import is_upload
from akari.studio import Studio
from tests.fakes.workers_ai import FakeWorkersAI

SCHNELL = "@cf/black-forest-labs/flux-1-schnell"
KLEIN = "@cf/black-forest-labs/flux-2-klein-4b"


def picture(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), colour).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def studio(database_url: str, tmp_path: Path, fake_workers_ai: FakeWorkersAI) -> Iterator[Studio]:
    settings = load_settings(akari_data_dir=str(tmp_path / "data"), akari_database_url=database_url,
                             akari_generator="cloudflare", akari_store="local", akari_max_retries="0",
                             **{k.lower(): v for k, v in fake_workers_ai.env().items()})
    opened = Studio.open(settings)
    opened.start_workers(2)
    yield opened
    opened.close()


class Viewer:
    def __init__(self, viewer_id: int) -> None:
        self.id = viewer_id


def run(studio: Studio, user_id: int, request: GenerationRequest):
    record = studio.generations.wait(studio.generations.submit(user_id, request), timeout=30)
    assert record.status == "succeeded", record.error_message
    return record


def stored(studio: Studio, key: str, store: str) -> bool:
    try:
        studio.stores.get(store).read(key)
    except AkariError:
        return False
    return True


def test_an_uploaded_reference_goes_with_the_last_generation_that_uses_it(studio: Studio) -> None:
    ada = studio.ensure_service_user("ada")
    first = run(studio, ada, GenerationRequest("a fox", model=KLEIN, reference=picture((9, 99, 9))))
    again = run(studio, ada, GenerationRequest("a fox", model=KLEIN, reference_of=first.id))  # "Reuse settings"
    key, store = first.reference_key, first.reference_store
    assert key and store and again.reference_key == key and is_upload(key)
    gallery = Gallery(studio)
    gallery.delete(Viewer(ada), first.id)
    assert stored(studio, key, store)  # the other generation still uses it
    gallery.delete(Viewer(ada), again.id)
    assert not stored(studio, key, store)


def test_a_gallery_image_used_as_a_reference_stays_with_its_own_generation(studio: Studio) -> None:
    ada = studio.ensure_service_user("ada")
    source = run(studio, ada, GenerationRequest("a barn", model=SCHNELL))
    derived = run(studio, ada, GenerationRequest("the barn in snow", model=KLEIN, reference_from=source.id))
    assert derived.reference_key == source.image_key and not is_upload(derived.reference_key)
    Gallery(studio).delete(Viewer(ada), derived.id)
    assert stored(studio, source.image_key, source.store)
    assert Gallery(studio).detail(Viewer(ada), source.id).has_image


def test_reusing_a_reference_while_its_generation_is_deleted_never_leaves_a_live_row_without_it(
        studio: Studio) -> None:
    """Ten submits reuse a generation's reference while it is deleted: each either got in before the delete (and
    the file stays) or is refused; the file is gone only if no live generation uses it."""
    ada = studio.ensure_service_user("ada")
    first = run(studio, ada, GenerationRequest("a fox", model=KLEIN, reference=picture((99, 9, 9))))
    barrier = threading.Barrier(11)
    outcomes: list[str] = []

    def reuse() -> None:
        barrier.wait()
        try:
            studio.generations.submit(ada, GenerationRequest("a fox", model=KLEIN, reference_of=first.id))
            outcomes.append("submitted")
        except InvalidInput:
            outcomes.append("refused")

    def delete() -> None:
        barrier.wait()
        Gallery(studio).delete(Viewer(ada), first.id)

    threads = [threading.Thread(target=reuse) for _ in range(10)] + [threading.Thread(target=delete)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == 10
    with studio.sessions() as session:
        live = session.scalars(select(Generation.id).where(Generation.reference_key == first.reference_key,
                                                           Generation.deleted_at.is_(None))).all()
    assert len(live) == outcomes.count("submitted")
    assert stored(studio, first.reference_key, first.reference_store) == bool(live)
