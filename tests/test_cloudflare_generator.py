"""The Workers AI client: real requests against a local fake; every error code reads as a sentence."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from akari.errors import GenerationError, InvalidInput
from akari.generators.cloudflare import ERROR_CODES, MAX_RETRY_AFTER, CloudflareGenerator
from tests.fakes.workers_ai import FakeWorkersAI

# (code, HTTP status) as documented.
DOCUMENTED = [("10000", 401), ("3023", 403), ("3003", 400), ("5006", 400), ("3030", 400), ("3006", 413),
              ("3007", 408), ("3008", 408), ("3036", 429), ("3040", 429), ("5007", 400), ("3042", 404)]
NEVER_RETRIED = ["10000", "3023", "3030", "3036", "5006", "3003", "3006", "5007", "3042"]


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def closed_port() -> int:
    """A port nothing listens on: bound, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def client(fake_workers_ai: FakeWorkersAI, sleeps: Sleeps) -> Iterator[CloudflareGenerator]:
    generator = CloudflareGenerator(fake_workers_ai.account_id, fake_workers_ai.token,
                                    api_base=fake_workers_ai.api_base, read_timeout=5, max_retries=3, sleep=sleeps)
    yield generator
    generator.close()


def test_an_image_comes_back_with_its_real_format_size_and_seed(client, fake_workers_ai) -> None:
    image = client.generate("a purple nebula", steps=6, seed=1234)
    assert image.format == "jpeg" and image.data[:3] == b"\xff\xd8\xff"
    assert (image.width, image.height) == (1024, 1024)
    assert (image.seed, image.steps, image.generator) == (1234, 6, "cloudflare")
    sent = fake_workers_ai.runs()[0]
    assert sent.json == {"prompt": "a purple nebula", "steps": 6, "seed": 1234}
    assert sent.headers["authorization"] == f"Bearer {fake_workers_ai.token}"
    assert sent.path.endswith("/ai/run/@cf/black-forest-labs/flux-1-schnell")


def test_one_pooled_session_serves_every_call(client) -> None:
    session = client.session
    client.generate("a", steps=1, seed=1)
    client.generate("b", steps=1, seed=2)
    assert client.session is session
    assert len(session.adapters["http://"].poolmanager.pools) == 1


def test_every_documented_code_has_a_mapping() -> None:
    assert {code for code, _status in DOCUMENTED} == set(ERROR_CODES)


@pytest.mark.parametrize(("code", "status"), DOCUMENTED)
def test_every_documented_error_reads_as_a_sentence_without_secrets(client, fake_workers_ai, code, status) -> None:
    fake_workers_ai.fail_next(code, status=status, times=10)
    with pytest.raises(GenerationError) as caught:
        client.generate("a cat", steps=4, seed=1)
    error = caught.value
    assert error.reason == ERROR_CODES[code]
    assert error.code == code
    assert error.message.endswith((".", ".)")) and len(error.message) > 20
    assert f"HTTP {status}" in (error.detail or "")
    for text in (error.message, error.detail or "", error.log_line()):
        assert fake_workers_ai.token not in text


def test_the_three_errors_users_meet_most_read_differently(client, fake_workers_ai) -> None:
    messages = {}
    for code, status in (("3030", 400), ("3036", 429), ("10000", 401)):
        fake_workers_ai.fail_next(code, status=status)
        with pytest.raises(GenerationError) as caught:
            client.generate("x", steps=4, seed=1)
        messages[code] = caught.value.message
    assert "safety filter" in messages["3030"]
    assert "00:00 UTC" in messages["3036"]
    assert "CLOUDFLARE_API_KEY" in messages["10000"]


@pytest.mark.parametrize("code", NEVER_RETRIED)
def test_errors_a_retry_cannot_fix_are_not_retried(client, fake_workers_ai, sleeps, code) -> None:
    fake_workers_ai.fail_next(code, status=400, times=5)
    with pytest.raises(GenerationError):
        client.generate("x", steps=4, seed=1)
    assert len(fake_workers_ai.runs()) == 1 and sleeps == []


def test_capacity_errors_are_retried_with_backoff_then_succeed(client, fake_workers_ai, sleeps) -> None:
    fake_workers_ai.fail_next(3040, status=429, times=2)
    image = client.generate("x", steps=4, seed=1)
    assert image.meta["attempts"] == "3"
    assert len(fake_workers_ai.runs()) == 3
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] > 0


def test_a_code_sent_as_a_string_is_understood(client, fake_workers_ai) -> None:
    fake_workers_ai.fail_next("3040", status=429)
    assert client.generate("x", steps=4, seed=1).meta["attempts"] == "2"


def test_retry_after_is_honoured(client, fake_workers_ai, sleeps) -> None:
    fake_workers_ai.fail_next(3040, status=429, retry_after=7)
    client.generate("x", steps=4, seed=1)
    assert sleeps == [7.0]


def test_a_huge_retry_after_is_capped(client, fake_workers_ai, sleeps) -> None:
    fake_workers_ai.fail_next(3040, status=429, retry_after=3600)
    client.generate("x", steps=4, seed=1)
    assert sleeps == [MAX_RETRY_AFTER]


def test_a_request_timeout_without_a_code_is_retried_as_a_timeout(client, fake_workers_ai) -> None:
    fake_workers_ai.respond_raw(408, "Request Timeout", content_type="text/plain", times=10)
    with pytest.raises(GenerationError) as caught:
        client.generate("x", steps=4, seed=1)
    assert caught.value.reason == "timeout" and len(fake_workers_ai.runs()) == 4


def test_retries_are_bounded_and_the_message_says_so(client, fake_workers_ai, sleeps) -> None:
    fake_workers_ai.fail_next(3040, status=429, times=10)
    with pytest.raises(GenerationError) as caught:
        client.generate("x", steps=4, seed=1)
    assert caught.value.reason == "capacity"
    assert len(fake_workers_ai.runs()) == 4 and len(sleeps) == 3
    assert "Tried 4 times" in caught.value.message


def test_server_errors_are_retried(client, fake_workers_ai) -> None:
    fake_workers_ai.respond_raw(502, "<html>Bad gateway</html>")
    fake_workers_ai.respond_raw(503, '{"oops": true}', content_type="application/json")
    assert client.generate("x", steps=4, seed=1).meta["attempts"] == "3"


def test_a_read_timeout_is_not_retried_because_the_image_may_already_be_paid_for(fake_workers_ai, sleeps) -> None:
    generator = CloudflareGenerator(fake_workers_ai.account_id, fake_workers_ai.token,
                                    api_base=fake_workers_ai.api_base, read_timeout=0.3, max_retries=3, sleep=sleeps)
    fake_workers_ai.delay_next(1.0, times=2)
    with pytest.raises(GenerationError) as caught:
        generator.generate("x", steps=4, seed=1)
    generator.close()
    assert caught.value.reason == "timeout" and not caught.value.retryable
    assert len(fake_workers_ai.runs()) == 1 and sleeps == []


def test_read_timeouts_are_retried_when_the_admin_opts_in(fake_workers_ai, sleeps) -> None:
    generator = CloudflareGenerator(fake_workers_ai.account_id, fake_workers_ai.token,
                                    api_base=fake_workers_ai.api_base, read_timeout=0.3, max_retries=1,
                                    retry_read_timeouts=True, sleep=sleeps)
    fake_workers_ai.delay_next(1.0, times=2)
    with pytest.raises(GenerationError) as caught:
        generator.generate("x", steps=4, seed=1)
    assert caught.value.reason == "timeout" and caught.value.retryable
    assert len(fake_workers_ai.runs()) == 2 and len(sleeps) == 1
    assert "Tried 2 times" in caught.value.message
    fake_workers_ai.delay_next(1.0)
    assert generator.generate("x", steps=4, seed=1).meta["attempts"] == "2"
    generator.close()


def test_every_retry_stays_inside_the_generations_deadline(fake_workers_ai) -> None:
    """Busy, busy, busy...: retries stop at the deadline instead of adding minutes of waiting."""
    generator = CloudflareGenerator(fake_workers_ai.account_id, fake_workers_ai.token,
                                    api_base=fake_workers_ai.api_base, max_retries=50, backoff=0.2)
    fake_workers_ai.fail_next(3040, times=50)
    started = time.monotonic()
    with pytest.raises(GenerationError) as caught:
        generator.generate("x", steps=4, seed=1, deadline=started + 1.5)
    generator.close()
    assert caught.value.reason == "capacity" and "Tried" in caught.value.message
    assert time.monotonic() - started < 1.5
    assert 2 <= len(fake_workers_ai.runs()) < 50


def test_a_slow_answer_is_cut_at_the_deadline(fake_workers_ai) -> None:
    generator = CloudflareGenerator(fake_workers_ai.account_id, fake_workers_ai.token,
                                    api_base=fake_workers_ai.api_base, read_timeout=60)
    fake_workers_ai.delay_next(5.0)
    started = time.monotonic()
    with pytest.raises(GenerationError) as caught:
        generator.generate("x", steps=4, seed=1, deadline=started + 0.5)
    generator.close()
    assert caught.value.reason == "timeout" and time.monotonic() - started < 2


def test_a_refused_connection_is_a_network_error(sleeps) -> None:
    generator = CloudflareGenerator("a", "t", api_base=f"http://127.0.0.1:{closed_port()}", max_retries=1,
                                    sleep=sleeps)
    with pytest.raises(GenerationError) as caught:
        generator.generate("x", steps=4, seed=1)
    generator.close()
    assert caught.value.reason == "network" and caught.value.retryable
    assert "could not be reached" in caught.value.message and "Tried 2 times" in caught.value.message
    assert isinstance(caught.value.__cause__, requests.ConnectionError)


@pytest.mark.parametrize(
    "arrange",
    [
        lambda fake: fake.respond_raw(200, "<html>proxy page</html>", times=10),
        lambda fake: fake.respond_raw(200, '{"result": {}, "success": true}', "application/json", times=10),
        lambda fake: fake.success_false_next(times=10),
        lambda fake: fake.bad_base64_next(times=10),
        lambda fake: fake.not_an_image_next(times=10),
    ],
    ids=["html", "no-image", "success-false", "bad-base64", "not-an-image"],
)
def test_garbage_is_an_error_never_a_broken_file(client, fake_workers_ai, arrange) -> None:
    arrange(fake_workers_ai)
    with pytest.raises(GenerationError) as caught:
        client.generate("x", steps=4, seed=1)
    assert caught.value.reason == "bad_response" and caught.value.message


def test_a_200_with_success_false_is_read_by_its_error_code(client, fake_workers_ai) -> None:
    fake_workers_ai.success_false_next(3030, "AiError: Input prompt contains NSFW content")
    with pytest.raises(GenerationError) as caught:
        client.generate("x", steps=4, seed=1)
    assert caught.value.reason == "safety_filter" and len(fake_workers_ai.runs()) == 1


def test_bad_input_tells_the_user_what_the_service_objected_to(client, fake_workers_ai) -> None:
    fake_workers_ai.fail_next(5006, message="AiError: Bad input: Error: oneOf at '/' not met")
    with pytest.raises(GenerationError) as caught:
        client.generate("x", steps=4, seed=1)
    assert "oneOf at '/' not met" in caught.value.message


@pytest.mark.parametrize("steps", [0, 9, "4", 4.0, True])
def test_steps_outside_1_to_8_never_reach_the_service(client, fake_workers_ai, steps) -> None:
    with pytest.raises(InvalidInput) as caught:
        client.generate("x", steps=steps, seed=1)
    assert caught.value.reason == "invalid_input" and fake_workers_ai.requests == []


def test_a_wrong_token_is_an_admin_problem(fake_workers_ai, sleeps) -> None:
    generator = CloudflareGenerator(fake_workers_ai.account_id, "wrong-token-xyz",
                                    api_base=fake_workers_ai.api_base, sleep=sleeps)
    with pytest.raises(GenerationError) as caught:
        generator.generate("x", steps=4, seed=1)
    generator.close()
    assert caught.value.reason == "auth" and "wrong-token-xyz" not in caught.value.log_line()
    assert sleeps == []


def test_the_ai_gateway_url_form_is_used_when_a_gateway_is_set(fake_workers_ai, sleeps) -> None:
    generator = CloudflareGenerator(fake_workers_ai.account_id, fake_workers_ai.token,
                                    gateway_id="my-gateway", gateway_base=fake_workers_ai.gateway_base, sleep=sleeps)
    image = generator.generate("x", steps=4, seed=1)
    generator.close()
    sent = fake_workers_ai.runs()[0]
    assert sent.path == f"/v1/{fake_workers_ai.account_id}/my-gateway/workers-ai/@cf/black-forest-labs/flux-1-schnell"
    assert "cf-aig-metadata" in sent.headers
    assert image.meta["cache_status"] == "MISS"


def test_the_connection_check_proves_the_credentials(client, fake_workers_ai, sleeps) -> None:
    assert client.check().startswith("Connected")
    bad = CloudflareGenerator(fake_workers_ai.account_id, "nope", api_base=fake_workers_ai.api_base, sleep=sleeps)
    with pytest.raises(GenerationError) as caught:
        bad.check()
    bad.close()
    assert caught.value.reason == "auth"


def test_the_connection_check_reports_an_unreachable_service(sleeps) -> None:
    generator = CloudflareGenerator("a", "t", api_base=f"http://127.0.0.1:{closed_port()}", sleep=sleeps)
    with pytest.raises(GenerationError) as caught:
        generator.check()
    generator.close()
    assert caught.value.reason == "network"


def test_the_fake_runs_as_a_process_for_browser_tests() -> None:
    process = subprocess.Popen([sys.executable, "-m", "tests.fakes.workers_ai", "--token", "tok", "--account", "acc"],
                               stdout=subprocess.PIPE, text=True)
    try:
        env = dict(process.stdout.readline().strip().split("=", 1) for _ in range(4))
        assert (env["CLOUDFLARE_ID"], env["CLOUDFLARE_API_KEY"]) == ("acc", "tok")
        generator = CloudflareGenerator("acc", "tok", api_base=env["CLOUDFLARE_API_BASE"])
        assert generator.generate("x", steps=1, seed=1).format == "jpeg"
        generator.close()
    finally:
        process.terminate()
        process.wait(timeout=5)
        process.stdout.close()


def test_the_fake_refuses_bad_input_like_the_service(client) -> None:
    with pytest.raises(GenerationError) as caught:
        client.generate("", steps=4, seed=1)
    assert caught.value.reason == "invalid_input" and "prompt" in caught.value.message


def test_a_token_echoed_by_the_service_is_kept_out_of_the_log(client, fake_workers_ai) -> None:
    fake_workers_ai.fail_next(3003, message=f"Bad header: Bearer {fake_workers_ai.token}")
    with pytest.raises(GenerationError) as caught:
        client.generate("x", steps=4, seed=1)
    assert fake_workers_ai.token not in caught.value.log_line() and "***" in (caught.value.detail or "")
