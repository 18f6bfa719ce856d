"""Image stores: the real Cloudinary SDK against a local fake of its API, and the local disk store."""

from __future__ import annotations

import base64
import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import cloudinary
import cloudinary.uploader
import cloudinary.utils
import pytest
import requests
from PIL import Image

from akari.config import Settings, load_settings
from akari.errors import ConfigError, NotFound, StoreError
from akari.stores import ImageMeta, StoredImage, make_stores
from akari.stores.cloudinary_store import THUMBNAIL_TRANSFORMATION, CloudinaryStore
from akari.stores.local import LocalStore
from tests.fakes.cloudinary_server import FakeCloudinary

PROMPT = "a red fox | sleeping=true & dreaming under the aurora"


def png_bytes(width: int = 640, height: int = 480) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(out, format="PNG")
    return out.getvalue()


def save(store: CloudinaryStore | LocalStore, data: bytes | None = None, owner: str = "alice",
         name: str = "g7-0123456789abcdef") -> StoredImage:
    return store.save(data or png_bytes(), name=name, fmt="png", private=True, meta=ImageMeta(7, owner, PROMPT))


@pytest.fixture
def store(cloudinary_settings: Settings) -> CloudinaryStore:
    return CloudinaryStore.from_settings(cloudinary_settings)


def quick_store(cloudinary_settings: Settings, timeout: float) -> CloudinaryStore:
    return CloudinaryStore.from_settings(cloudinary_settings.with_overrides(upload_timeout=timeout))


# -- Cloudinary: what goes over the wire ------------------------------------------------------------


def test_upload_sends_raw_bytes_as_a_file_part_not_a_data_uri(store, fake_cloudinary):
    data = png_bytes()
    save(store, data)
    (upload,) = fake_cloudinary.api_requests("upload")
    assert upload.file_as_bytes_part
    assert upload.file_bytes == data
    assert "file" not in upload.fields


def test_fake_tells_a_data_uri_upload_apart_from_a_file_part(fake_cloudinary):
    data_uri = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
    cloudinary.uploader.upload(
        data_uri,
        cloud_name=fake_cloudinary.cloud_name,
        api_key=fake_cloudinary.api_key,
        api_secret=fake_cloudinary.api_secret,
        upload_prefix=fake_cloudinary.base_url,
        timeout=5,
    )
    (upload,) = fake_cloudinary.api_requests("upload")
    assert not upload.file_as_bytes_part
    assert upload.file_text == data_uri


def test_upload_is_signed_and_carries_folder_owner_tag_and_prompt_context(store, fake_cloudinary):
    save(store, owner="bob, the admin")
    fields = fake_cloudinary.api_requests("upload")[0].fields
    assert fields["signature"] and fields["api_key"] == fake_cloudinary.api_key
    assert fields["folder"] == "akari"
    assert fields["tags"] == "akari,user:bob__the_admin"
    assert "prompt=a red fox \\| sleeping\\=true & dreaming" in fields["context"]
    assert "generation=7" in fields["context"]


def test_saving_the_same_name_again_replaces_the_image_instead_of_adding_one(store, fake_cloudinary):
    first, second = save(store, png_bytes(10, 10)), save(store, png_bytes(20, 20))
    assert first.key == second.key == "akari/g7-0123456789abcdef"
    assert list(fake_cloudinary.uploads) == [first.key] and fake_cloudinary.uploads[first.key].width == 20
    assert fake_cloudinary.api_requests("upload")[0].fields["overwrite"] == "1"
    assert "fox" not in first.key


def test_saved_image_keeps_what_the_service_returns(store, fake_cloudinary):
    image = save(store, png_bytes(640, 480))
    (public_id,) = fake_cloudinary.uploads
    upload = fake_cloudinary.uploads[public_id]
    assert image.key == public_id and public_id.startswith("akari/")
    assert image.url == fake_cloudinary.delivery_url(public_id)
    assert (image.width, image.height, image.bytes, image.format) == (640, 480, len(upload.data), "png")


def test_thumbnail_is_one_named_384_px_fill_transformation(store, fake_cloudinary):
    image = save(store)
    url = store.display_url(image.key, "thumb", private=True)
    assert url.startswith(fake_cloudinary.base_url)
    assert re.search(rf"/image/authenticated/s--[\w-]{{8}}--/c_fill,f_auto,h_384,q_auto,w_384/v1/{image.key}$", url)
    response = requests.get(url, timeout=5)
    with Image.open(io.BytesIO(response.content)) as thumb:
        assert (thumb.format, thumb.size) == ("WEBP", (384, 384))


def test_thumbnail_of_a_real_account_points_at_the_cloudinary_cdn():
    store = CloudinaryStore(load_settings(env={"CLOUDINARY_URL": "cloudinary://k:s@democloud"}).cloudinary)
    assert store.display_url("akari/abc", "thumb", private=False) == (
        "https://res.cloudinary.com/democloud/image/upload/c_fill,f_auto,h_384,q_auto,w_384/v1/akari/abc"
    )


def test_store_ignores_the_process_wide_cloudinary_config(store, fake_cloudinary):
    cloudinary.config(
        cloud_name="someone-else",
        api_key="999",
        api_secret="other-secret",
        upload_prefix="http://127.0.0.1:9",
        oauth_token="stray-token",
    )
    try:
        image = save(store)
        store.delete(image.key)
        assert store.check() == f"Connected: cloud {fake_cloudinary.cloud_name}"
    finally:
        cloudinary.reset_config()
    assert fake_cloudinary.uploads == {}


def test_read_fetches_the_stored_bytes_for_downloads(store):
    data = png_bytes()
    image = save(store, data)
    assert store.read(image.key) == data


def test_reading_an_image_that_is_gone_is_not_found(store):
    with pytest.raises(NotFound):
        store.read("akari/never-uploaded")


# -- Cloudinary: delete and check -------------------------------------------------------------------


def test_delete_destroys_the_image_and_invalidates_the_cdn(store, fake_cloudinary):
    image = save(store)
    store.delete(image.key)
    destroy = fake_cloudinary.api_requests("destroy")[-1]  # the asset's type is tried in turn
    assert destroy.fields["public_id"] == image.key and destroy.fields["type"] == "authenticated"
    assert destroy.fields["invalidate"] == "1"
    assert fake_cloudinary.uploads == {}


def test_deleting_an_image_that_is_already_gone_is_fine(store, fake_cloudinary):
    store.delete("akari/never-uploaded")
    assert fake_cloudinary.api_requests("destroy")


def test_check_proves_the_credentials_with_a_ping(store, fake_cloudinary):
    assert store.check() == f"Connected: cloud {fake_cloudinary.cloud_name}"
    (ping,) = fake_cloudinary.api_requests("ping")
    assert ping.headers["authorization"].startswith("Basic ")


# -- Cloudinary: failures become StoreError sentences -----------------------------------------------


def wrong_secret_store(settings: Settings) -> CloudinaryStore:
    creds = settings.cloudinary
    assert creds is not None
    return CloudinaryStore(
        type(creds)(creds.cloud_name, creds.api_key, "wrong-secret-xyz", upload_prefix=creds.upload_prefix,
                    delivery_base=creds.delivery_base),
        upload_timeout=5,
    )


@pytest.mark.parametrize("action", ["save", "delete", "check"])
def test_wrong_secret_is_refused_as_store_auth_and_never_leaks_the_secret(cloudinary_settings, action):
    store = wrong_secret_store(cloudinary_settings)
    with pytest.raises(StoreError) as caught:
        {"save": lambda: save(store), "delete": lambda: store.delete("akari/x"), "check": store.check}[action]()
    error = caught.value
    assert error.reason == "store_auth" and not error.retryable
    assert error.message == (
        "The server's Cloudinary credentials were refused. Ask your administrator to check CLOUDINARY_URL."
    )
    assert "wrong-secret-xyz" not in error.log_line()


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (lambda fake: fake.fail_next(500, "Internal server error"), "store_unavailable"),
        (lambda fake: fake.fail_next(503, "Service unavailable"), "store_unavailable"),
        (lambda fake: fake.raw_next(502, "<html><body>502 Bad Gateway</body></html>"), "store_unavailable"),
        (lambda fake: fake.fail_next(429, "Rate limit exceeded"), "store_rate_limited"),
        (lambda fake: fake.fail_next(420, "Rate Limit Exceeded"), "store_rate_limited"),
    ],
    ids=["500", "503", "502-html", "429", "420"],
)
def test_passing_service_trouble_is_a_retryable_store_error(store, fake_cloudinary, fault, reason):
    fault(fake_cloudinary)
    with pytest.raises(StoreError) as caught:
        save(store)
    assert caught.value.retryable and caught.value.reason == reason
    assert "Cloudinary" in caught.value.message
    assert fake_cloudinary.api_secret not in caught.value.log_line()


def test_an_upload_that_outlives_its_timeout_is_a_retryable_store_error(cloudinary_settings, fake_cloudinary):
    fake_cloudinary.delay_next(5)
    with pytest.raises(StoreError) as caught:
        save(quick_store(cloudinary_settings, 0.3))
    assert caught.value.retryable and caught.value.reason == "store_timeout"


def test_an_unreachable_cloudinary_is_a_retryable_store_error(cloudinary_settings):
    with FakeCloudinary() as gone:
        closed_prefix = gone.base_url
    creds = cloudinary_settings.cloudinary
    store = CloudinaryStore(
        type(creds)(creds.cloud_name, creds.api_key, creds.api_secret, upload_prefix=closed_prefix), upload_timeout=2
    )
    with pytest.raises(StoreError) as caught:
        save(store)
    assert caught.value.retryable


def test_an_image_over_the_plan_limit_is_not_retried(store, fake_cloudinary):
    fake_cloudinary.max_image_bytes = 100
    with pytest.raises(StoreError) as caught:
        save(store)
    assert caught.value.reason == "store_too_large" and not caught.value.retryable


def test_check_fails_with_a_store_error_when_the_service_is_down(store, fake_cloudinary):
    fake_cloudinary.raw_next(502, "<html>Bad Gateway</html>")
    with pytest.raises(StoreError) as caught:
        store.check()
    assert caught.value.retryable


def test_fake_cloudinary_runs_as_a_process_for_browser_tests():
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.cloudinary_server",
            "--port",
            "0",
            "--cloud",
            "c1",
            "--key",
            "k1",
            "--secret",
            "s1",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("CLOUDINARY_URL=cloudinary://k1:s1@c1?upload_prefix=http://127.0.0.1:")
        assert process.stdout.readline().startswith("CLOUDINARY_DELIVERY_BASE=http://127.0.0.1:")
        settings = load_settings(env={"CLOUDINARY_URL": line.split("=", 1)[1]})
        assert CloudinaryStore.from_settings(settings).check() == "Connected: cloud c1"
    finally:
        process.terminate()
        process.wait(timeout=5)
        if process.stdout:
            process.stdout.close()
    assert process.returncode == 0


# -- Local disk -------------------------------------------------------------------------------------


@pytest.fixture
def local(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "images")


def test_new_images_go_to_the_configured_store_and_older_local_ones_stay_readable(cloudinary_settings, tmp_path):
    stores = make_stores(cloudinary_settings)
    assert isinstance(stores.current, CloudinaryStore)
    assert isinstance(stores.get("local"), LocalStore)
    local_settings = load_settings(env={"AKARI_DATA_DIR": str(tmp_path)})
    assert isinstance(make_stores(local_settings).current, LocalStore)
    with pytest.raises(StoreError, match="not set up to reach"):
        make_stores(local_settings).get("cloudinary")


def test_local_keys_are_relative_and_never_hold_user_text(local):
    image = save(local, owner="../../etc")
    assert not Path(image.key).is_absolute() and image.url is None
    assert "fox" not in image.key and "etc" not in image.key
    folder, name = image.key.split("/")
    assert len(folder) == 2 and name == "g7-0123456789abcdef.png"


@pytest.mark.parametrize("name", ["../x", "G7-UPPER", "a/b", ""])
def test_local_store_refuses_names_that_are_not_plain(local, name):
    with pytest.raises(StoreError):
        save(local, name=name)


def test_a_moved_image_folder_still_serves_every_image(local, tmp_path):
    data = png_bytes()
    image = save(local, data)
    local.root.rename(tmp_path / "moved")
    assert LocalStore(tmp_path / "moved").read(image.key) == data


def test_local_write_is_atomic_and_leaves_no_temporary_files(local):
    save(local)
    names = [p.name for p in local.root.rglob("*") if p.is_file()]
    assert len(names) == 2
    assert not [n for n in names if n.startswith(".tmp-")]


def test_local_image_keeps_its_bytes_and_measurements(local):
    data = png_bytes(640, 480)
    image = save(local, data)
    assert (local.root / image.key).read_bytes() == data == local.read(image.key)
    assert (image.width, image.height, image.bytes, image.format) == (640, 480, len(data), "png")


def test_local_thumbnail_is_a_webp_of_at_most_384_px(local):
    image = save(local, png_bytes(1024, 768))
    assert local.display_url(image.key, "thumb", private=True) == f"/images/{image.key}?size=thumb"
    with Image.open(local.path(image.key, "thumb")) as thumb:
        assert thumb.format == "WEBP"
        assert max(thumb.size) <= 384


def test_local_delete_removes_image_and_thumbnail_and_tolerates_missing(local):
    image = save(local)
    local.delete(image.key)
    assert not local.path(image.key).exists() and not local.path(image.key, "thumb").exists()
    local.delete(image.key)


def test_two_local_saves_under_one_name_replace_and_under_two_names_never_collide(local):
    first, again = save(local, png_bytes(10, 10)), save(local, png_bytes(20, 20))
    other = save(local, png_bytes(), name="g8-0123456789abcdef")
    assert first.key == again.key != other.key
    assert local.read(first.key) == png_bytes(20, 20) and local.read(other.key) == png_bytes()


@pytest.mark.parametrize("outside", ["/etc/passwd", "../secret.txt", ".", "{root}/../secret.txt"])
def test_local_read_refuses_keys_outside_the_image_folder(local, tmp_path, outside):
    (tmp_path / "secret.txt").write_text("secret")
    save(local)
    with pytest.raises(NotFound):
        local.read(outside.format(root=local.root))


def test_local_read_refuses_a_symlink_that_leads_outside(local, tmp_path):
    (tmp_path / "secret.txt").write_text("secret")
    save(local)
    link = local.root / "ab" / "link.png"
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(tmp_path / "secret.txt", link)
    with pytest.raises(NotFound):
        local.read("ab/link.png")


def test_local_delete_refuses_keys_outside_the_image_folder(local, tmp_path):
    victim = tmp_path / "keep.png"
    victim.write_bytes(b"keep")
    with pytest.raises(NotFound):
        local.delete("../keep.png")
    assert victim.exists()


def test_local_store_refuses_a_damaged_image(local):
    with pytest.raises(StoreError) as caught:
        save(local, b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    assert not caught.value.retryable
    assert not local.root.exists() or not any(local.root.rglob("*.png"))


def test_local_check_reports_a_writable_folder(local):
    assert local.check().startswith("Writable: ")


def test_local_check_fails_when_the_folder_cannot_be_created(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(StoreError) as caught:
        LocalStore(tmp_path / "a-file" / "images").check()
    assert "not writable" in caught.value.message and not caught.value.retryable


def test_local_disk_errors_become_a_store_error_sentence(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(StoreError) as caught:
        save(LocalStore(tmp_path / "a-file"))
    assert caught.value.reason == "store_disk"
    assert caught.value.message.startswith("The image could not be written to disk.")


def test_a_private_image_is_served_only_through_its_signed_url(store, fake_cloudinary):
    image = save(store)  # private
    signed = store.display_url(image.key, "full", private=True)
    assert requests.get(signed, timeout=5).status_code == 200
    public = store.display_url(image.key, "full", private=False)
    assert requests.get(public, timeout=5).status_code == 404  # not an "upload" asset
    forged = re.sub(r"s--[\w-]{8}--", "s--AAAAAAAA--", signed)
    assert requests.get(forged, timeout=5).status_code == 401


def test_sharing_and_unsharing_switch_the_delivery_and_old_urls_stop_working(store, fake_cloudinary):
    image = save(store)
    private_url = store.display_url(image.key, "thumb", private=True)
    store.set_private(image.key, False)  # shared
    shared_url = store.display_url(image.key, "thumb", private=False)
    assert requests.get(shared_url, timeout=5).status_code == 200
    assert requests.get(private_url, timeout=5).status_code == 404
    store.set_private(image.key, True)  # unshared: the URL copied while it was shared is refused
    assert requests.get(shared_url, timeout=5).status_code == 404
    assert requests.get(store.display_url(image.key, "thumb", private=True), timeout=5).status_code == 200
    store.set_private(image.key, True)  # already private: nothing to switch, no error
    assert store.read(image.key) == fake_cloudinary.uploads[image.key].data
    store.delete(image.key)
    assert image.key not in fake_cloudinary.uploads


TOKEN_KEY = "9c1f4e2a7b3d8e6f0a5c2b9d4e7f1a3c"


def test_with_token_authentication_private_urls_expire(tmp_path):
    with FakeCloudinary(auth_token_key=TOKEN_KEY) as fake:
        settings = load_settings(env={"AKARI_DATA_DIR": str(tmp_path), "AKARI_STORE": "cloudinary",
                                      "CLOUDINARY_AUTH_TOKEN_KEY": TOKEN_KEY, "AKARI_PRIVATE_URL_SECONDS": "600",
                                      **fake.env()})
        store = CloudinaryStore.from_settings(settings)
        image = save(store)
        url = store.display_url(image.key, "thumb", private=True)
        assert "__cld_token__=" in url and requests.get(url, timeout=5).status_code == 200
        assert store.display_url(image.key, "thumb", private=True) == url  # stable within half the lifetime
        stale = store._auth_token(now=time.time() - 3600)  # a link handed out an hour ago
        expired, _ = cloudinary.utils.cloudinary_url(image.key, type="authenticated", sign_url=True,
                                                     cloud_name=fake.cloud_name, api_secret=fake.api_secret,
                                                     auth_token=stale, **THUMBNAIL_TRANSFORMATION)
        expired = fake.base_url + expired.split("res.cloudinary.com", 1)[1]
        assert requests.get(expired, timeout=5).status_code == 401
        tampered = re.sub(r"hmac=[0-9a-f]+", "hmac=" + "0" * 64, url)
        assert requests.get(tampered, timeout=5).status_code == 401


def test_a_malformed_token_key_stops_start_up():
    with pytest.raises(ConfigError, match="CLOUDINARY_AUTH_TOKEN_KEY"):
        load_settings(env={"CLOUDINARY_URL": "cloudinary://k:s@cloud", "CLOUDINARY_AUTH_TOKEN_KEY": "not-hex"})
