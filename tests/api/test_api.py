"""The HTTP API over the real server (`streamlit run server.py`) with the fake providers, called over HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests

from akari.api_access import set_api_enabled
from akari.db.models import Generation, utcnow
from akari.errors import AkariError
from akari.prompts import GenerationRequest
from akari.web.api_errors import STATUS_BY_REASON
from tests.api.harness import Api, open_api
from tests.db_fixtures import postgres_schema_url
from tests.fakes.cloudinary_server import FakeCloudinary
from tests.fakes.workers_ai import FakeWorkersAI
from tests.waiting import eventually


# -- the original endpoint ----------------------------------------------------------------------------------------
def test_the_original_request_body_gets_a_photo_url_that_serves_the_image(api: Api) -> None:
    api.user("ada")
    answer = api.make("ada", "a purple nebula")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert next(iter(body)) == "photo"
    assert body["photo"].startswith("http") and body["thumbnail"].startswith("http")
    image = requests.get(body["photo"], timeout=10)
    assert image.status_code == 200 and image.content[:3] == b"\xff\xd8\xff"
    assert isinstance(body["seed"], int) and body["status"] == "succeeded"
    with api.studio.sessions() as session:
        assert session.get(Generation, body["id"]).source == "api"


def test_wait_false_answers_202_with_the_id_at_once_and_the_row_tells_the_rest(api: Api) -> None:
    api.user("wes")
    queued = api.call("POST", "/api/image-generation?wait=false", "wes", json={"prompt": "a fast river", "seed": 3})
    assert queued.status_code == 202 and queued.json()["reason"] == "pending"
    url = queued.json()["url"]
    assert queued.headers["Location"] == url
    def row() -> dict[str, Any]:
        return requests.get(url, headers={"Authorization": f"Bearer {api.tokens['wes']}"}, timeout=10).json()

    assert eventually(lambda: row()["status"] == "succeeded")
    found = row()
    assert found["seed"] == 3 and found["photo"]


# -- every failure has its status and reason ----------------------------------------------------------------------
@pytest.mark.parametrize(("fault", "status", "reason"), [
    ("3030", 422, "safety_filter"),
    ("3036", 429, "daily_allocation"),
    ("3040", 503, "capacity"),
    ("10000", 502, "auth"),
    ("5007", 503, "model_unavailable"),
])
def test_provider_failures_map_to_honest_statuses(api: Api, workers_ai: FakeWorkersAI, fault: str, status: int,
                                                  reason: str) -> None:
    if "fay" not in api.tokens:
        api.user("fay")
    workers_ai.fail_next(fault)
    answer = api.make("fay")
    assert (answer.status_code, answer.json()["reason"]) == (status, reason), answer.text
    assert answer.json()["error"] and "Traceback" not in answer.text and isinstance(answer.json()["id"], int)
    if status == 429:
        assert 0 < int(answer.headers["Retry-After"]) <= 86400


def test_a_provider_timeout_is_504(api: Api, workers_ai: FakeWorkersAI) -> None:
    api.user("tim")
    workers_ai.delay_next(3.5)
    answer = api.make("tim")
    assert (answer.status_code, answer.json()["reason"]) == (504, "timeout")


def test_an_image_made_but_not_yet_uploaded_is_202_with_its_id(api: Api, cloudinary: FakeCloudinary) -> None:
    api.user("pat")
    cloudinary.fail_next(500, "storage is down", times=10)
    answer = api.make("pat")
    assert answer.status_code == 202, answer.text
    assert answer.json()["reason"] == "pending_upload" and answer.json()["id"] and answer.json()["error"]


def test_bad_input_is_400_and_records_nothing(api: Api) -> None:
    api.user("bea")
    for body in ({"prompt": "  "}, {"prompt": "x", "steps": 9}, {"prompt": "x", "seed": -1}, {"prompt": "x",
                 "public": "yes"}, {"nothing": 1}, ["prompt"], {"prompt": "x", "model": "@cf/other/model"}):
        answer = api.call("POST", "/api/image-generation", "bea", json=body)
        assert (answer.status_code, answer.json()["reason"]) in ((400, "invalid_input"), (400, "invalid_json")), body
    broken = api.call("POST", "/api/image-generation", "bea", data=b"{not json",
                      headers={"Content-Type": "application/json"})
    assert (broken.status_code, broken.json()["reason"]) == (400, "invalid_json")
    huge = api.call("POST", "/api/image-generation", "bea", json={"prompt": "x" * 70_000})
    assert huge.status_code == 413
    with api.studio.sessions() as session:
        assert session.query(Generation).filter(Generation.user_id == api.users["bea"].id).count() == 0


def test_no_credentials_or_a_bad_token_is_401(api: Api) -> None:
    for headers in ({}, {"Authorization": "Bearer akari_wrong"}, {"Authorization": "Basic abc"}):
        answer = api.call("POST", "/api/image-generation", json={"prompt": "x"}, headers=headers)
        assert (answer.status_code, answer.json()["reason"]) == (401, "unauthenticated")


def test_a_disabled_account_is_403_at_once(api: Api) -> None:
    api.user("dan")
    assert api.call("GET", "/api/usage", "dan").status_code == 200
    api.studio.accounts.set_enabled("dan", False)
    answer = api.make("dan")
    assert (answer.status_code, answer.json()["reason"]) == (403, "account_disabled")


def test_the_quota_is_429_with_retry_after_until_midnight_utc(api: Api) -> None:
    api.user("quinn", quota=0)
    answer = api.make("quinn")
    assert (answer.status_code, answer.json()["reason"]) == (429, "quota")
    midnight = (utcnow() + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert abs(int(answer.headers["Retry-After"]) - (midnight - utcnow()).total_seconds()) < 5


def test_a_revoked_token_fails_on_its_next_call(api: Api) -> None:
    token = api.user("rex")
    assert api.call("GET", "/api/generations?mine=1", "rex").status_code == 200
    token_id = api.studio.tokens.list(api.users["rex"], api.users["rex"].id)[0].id
    api.studio.tokens.revoke(api.users["rex"], token_id)
    answer = api.call("GET", "/api/generations?mine=1", "rex")
    assert (answer.status_code, answer.json()["reason"]) == (401, "unauthenticated")
    assert token not in answer.text


def test_the_admin_switch_turns_the_api_off_for_everyone(api: Api) -> None:
    api.user("ola")
    admin = api.user("boss", admin=True)
    assert admin
    set_api_enabled(api.studio.sessions, api.users["boss"], False)
    try:
        answer = api.make("ola")
        assert (answer.status_code, answer.json()["reason"]) == (503, "api_off")
        assert api.call("GET", "/api").json()["enabled"] is False
    finally:
        set_api_enabled(api.studio.sessions, api.users["boss"], True)
    assert api.call("GET", "/api/usage", "ola").status_code == 200
    with pytest.raises(AkariError):
        set_api_enabled(api.studio.sessions, api.users["ola"], False)


def test_every_reason_the_provider_table_gives_has_a_status() -> None:
    from akari.generators.cloudflare import ERROR_CODES

    missing = {reason for reason in ERROR_CODES.values() if reason not in STATUS_BY_REASON}
    assert not missing


# -- who may see and change what ----------------------------------------------------------------------------------
def test_a_member_cannot_read_delete_or_list_another_members_private_image(api: Api) -> None:
    api.user("mia")
    api.user("max")
    mine = api.make("mia", "a secret garden").json()["id"]
    assert api.call("GET", f"/api/generations/{mine}", "mia").status_code == 200
    assert api.call("GET", f"/api/generations/{mine}", "max").status_code == 404
    assert api.call("DELETE", f"/api/generations/{mine}", "max").status_code == 404
    for query in ("?mine=1", "", "?q=secret", "?mine=1&q=secret"):
        listed = api.call("GET", f"/api/generations{query}", "max").json()["items"]
        assert mine not in [item["id"] for item in listed]
    assert mine in [item["id"] for item in api.call("GET", "/api/generations?mine=1&q=secret", "mia").json()["items"]]
    assert api.call("GET", "/api/usage?user=mia", "max").status_code == 403
    deleted = api.call("DELETE", f"/api/generations/{mine}", "mia")
    assert deleted.status_code == 200 and deleted.json()["status"] == "deleted"
    assert api.call("GET", f"/api/generations/{mine}", "mia").status_code == 404


def test_listing_pages_with_a_cursor_without_gaps_or_repeats(api: Api) -> None:
    api.user("lea")
    made = [api.make("lea", f"a paper boat {i}").json()["id"] for i in range(5)]
    seen: list[int] = []
    url = "/api/generations?mine=1&limit=2"
    while url:
        page = api.call("GET", url, "lea").json()
        seen += [item["id"] for item in page["items"]]
        url = page["next"] and page["next"].removeprefix(api.server.url)
    assert seen == sorted(made, reverse=True)
    bad = api.call("GET", "/api/generations?cursor=abc", "lea")
    assert (bad.status_code, bad.json()["reason"]) == (400, "invalid_input")


def test_usage_is_ones_own_for_a_member_and_everyones_for_an_admin(api: Api) -> None:
    api.user("uma")
    api.user("ursula", admin=True)
    api.make("uma")
    api.make("ursula")
    own = api.call("GET", "/api/usage", "uma").json()
    assert own["user"] == "uma" and own["generations"] == 1 and own["today"]["used"] == 1
    everyone = api.call("GET", "/api/usage", "ursula").json()
    assert everyone["user"] is None and everyone["generations"] > 1 and everyone["per_user"]
    assert api.call("GET", "/api/usage?user=uma", "ursula").json()["generations"] == 1
    api.studio.generations.wait(api.studio.generations.submit(  # one more for uma, from the pages
        api.users["uma"].id, GenerationRequest("a page-made image")), 30)
    assert api.call("GET", "/api/usage?source=api", "uma").json()["generations"] == 1
    assert api.call("GET", "/api/usage?source=ui", "uma").json()["generations"] == 1
    assert api.call("GET", "/api/usage", "uma").json()["generations"] == 2
    assert api.call("GET", "/api/usage?source=fax", "uma").status_code == 400


def test_get_api_lists_the_routes(api: Api) -> None:
    listed = api.call("GET", "/api").json()
    assert listed["enabled"] is True and listed["model"] == "@cf/black-forest-labs/flux-1-schnell"
    assert {(r["method"], r["path"]) for r in listed["routes"]} >= {
        ("POST", "/api/image-generation"), ("GET", "/api/generations/{id}"), ("GET", "/api/generations"),
        ("DELETE", "/api/generations/{id}"), ("GET", "/api/usage")}


# -- the sign-in cookie -------------------------------------------------------------------------------------------
def test_the_cookie_works_from_the_studios_own_pages_only(api: Api) -> None:
    api.user("cal")
    cookie = api.cookie("cal")
    own = {"Origin": api.server.url, "Sec-Fetch-Site": "same-origin"}
    answer = api.call("POST", "/api/image-generation", json={"prompt": "a kite"}, cookies=cookie, headers=own)
    assert answer.status_code == 200 and answer.json()["photo"], answer.text
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "none"},
                    {"Sec-Fetch-Site": "same-site"}, {"Origin": "null"},
                    {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}, {}):
        refused = api.call("POST", "/api/image-generation", json={"prompt": "a kite"}, cookies=cookie,
                           headers=headers)
        assert (refused.status_code, refused.json()["reason"]) == (403, "cross_origin"), headers
    form = api.call("POST", "/api/image-generation", data='{"prompt": "a kite"}', cookies=cookie,
                    headers={**own, "Content-Type": "text/plain"})
    assert (form.status_code, form.json()["reason"]) == (415, "unsupported_media_type")
    assert api.call("GET", "/api/usage", cookies=cookie, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert api.call("GET", "/api/usage", cookies=cookie, headers={"Sec-Fetch-Site": "none"}).status_code == 200
    assert api.call("GET", "/api/usage", cookies=api.cookie("nobody")).status_code == 401


# -- the quota holds under a burst --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def postgres_api(tmp_path_factory: pytest.TempPathFactory, workers_ai: FakeWorkersAI,
                 cloudinary: FakeCloudinary) -> Iterator[Api]:
    """The same server on PostgreSQL."""
    urls = postgres_schema_url()
    url = next(urls)
    try:
        yield from open_api(tmp_path_factory.mktemp("pg"), {**workers_ai.env(), **cloudinary.env(),
                                                         "AKARI_DATABASE_URL": url})
    finally:
        urls.close()


@pytest.mark.parametrize("which", ["api", pytest.param("postgres_api", marks=pytest.mark.postgres)])
def test_twenty_parallel_posts_with_five_left_make_exactly_five_images(request: pytest.FixtureRequest,
                                                                       which: str) -> None:
    api: Api = request.getfixturevalue(which)
    api.user("zoe", quota=5)
    barrier = threading.Barrier(20)
    answers: list[requests.Response] = []

    def post(i: int) -> None:
        barrier.wait()
        answers.append(api.make("zoe", f"a burst {i}"))

    threads = [threading.Thread(target=post, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * 5 + [429] * 15, [a.text for a in answers if a.status_code not in (200, 429)]
    assert all(a.json()["photo"] for a in answers if a.status_code == 200)
    with api.studio.sessions() as session:
        assert session.query(Generation).filter(Generation.user_id == api.users["zoe"].id).count() == 5


# -- the local store: photo is an absolute URL of the app's /images route ---------------------------------------------
@pytest.fixture(scope="module")
def local_api(tmp_path_factory: pytest.TempPathFactory, workers_ai: FakeWorkersAI) -> Iterator[Api]:
    yield from open_api(tmp_path_factory.mktemp("local"), workers_ai.env())


def test_on_the_local_store_photo_is_an_absolute_app_url_for_its_owner_only(local_api: Api) -> None:
    local_api.user("ida")
    local_api.user("ivo")
    body = local_api.make("ida").json()
    assert body["photo"].startswith(local_api.server.url + "/images/")
    own = local_api.call("GET", body["photo"].removeprefix(local_api.server.url), "ida")
    assert own.status_code == 200 and own.content[:3] == b"\xff\xd8\xff"
    thumb = local_api.call("GET", body["thumbnail"].removeprefix(local_api.server.url), "ida")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
    assert local_api.call("GET", body["photo"].removeprefix(local_api.server.url), "ivo").status_code == 404
    assert requests.get(body["photo"], timeout=10).status_code == 404


def test_failed_token_attempts_from_one_address_are_throttled_over_http(local_api: Api) -> None:
    good = local_api.user("gus")
    for _ in range(10):
        wrong = local_api.call("GET", "/api/usage", headers={"Authorization": "Bearer akari_guessing"})
        assert wrong.status_code == 401
    paused = local_api.call("GET", "/api/usage", headers={"Authorization": f"Bearer {good}"})
    assert (paused.status_code, paused.json()["reason"]) == (429, "too_many_failures")
    assert 1 <= int(paused.headers["Retry-After"]) <= 60
