"""The command line: generate prints a result (or the user's sentence and a non-zero exit), and the other commands."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "CLOUDINARY_"))}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "akari", *args], cwd=ROOT, env=full_env, capture_output=True, text=True,
        input=stdin, timeout=120,
    )


def test_generate_works_on_a_fresh_machine_with_no_configuration(tmp_path: Path) -> None:
    env = {"AKARI_DATA_DIR": str(tmp_path / "data")}
    result = run_cli("generate", "a purple nebula", "--json", env=env)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["status"] == "succeeded"
    assert (out["generator"], out["store"], out["width"], out["height"]) == ("offline", "local", 1024, 1024)
    assert isinstance(out["seed"], int) and out["steps"] == 4
    assert set(out["timings"]) == {"generate_ms", "store_ms", "total_ms"}
    with Image.open(out["url"]) as image:
        assert image.format == "JPEG"
    assert Path(out["thumbnail_url"]).exists()
    assert (tmp_path / "data" / "akari.db").exists()


def test_generate_with_a_fixed_seed_reproduces_the_same_image(tmp_path: Path) -> None:
    env = {"AKARI_DATA_DIR": str(tmp_path / "data")}
    first = json.loads(run_cli("generate", "a fox", "--seed", "5", "--json", env=env).stdout)
    second = json.loads(run_cli("generate", "a fox", "--seed", "5", "--json", env=env).stdout)
    assert Path(first["url"]).read_bytes() == Path(second["url"]).read_bytes()
    assert first["id"] != second["id"]


def test_generate_prints_a_plain_summary_without_json(tmp_path: Path) -> None:
    result = run_cli("generate", "a fox", "--steps", "2", env={"AKARI_DATA_DIR": str(tmp_path / "d")})
    assert result.returncode == 0
    assert "offline sketch (not AI)" in result.stdout and "2 steps" in result.stdout


def test_a_bad_prompt_prints_the_sentence_and_exits_non_zero(tmp_path: Path) -> None:
    env = {"AKARI_DATA_DIR": str(tmp_path / "data")}
    result = run_cli("generate", "   ", env=env)
    assert result.returncode == 1
    assert "Write a prompt first" in result.stderr
    result = run_cli("generate", "a cat", "--steps", "12", env=env)
    assert result.returncode == 1 and "Steps must be" in result.stderr


def test_a_misconfiguration_exits_with_the_variable_to_set(tmp_path: Path) -> None:
    env = {"AKARI_DATA_DIR": str(tmp_path / "data"), "AKARI_GENERATOR": "cloudflare"}
    result = run_cli("generate", "a cat", env=env)
    assert result.returncode == 2
    assert "CLOUDFLARE_ID" in result.stderr and "Traceback" not in result.stderr


def test_an_unknown_user_is_refused(tmp_path: Path) -> None:
    result = run_cli("generate", "a cat", "--user", "nobody", env={"AKARI_DATA_DIR": str(tmp_path / "d")})
    assert result.returncode == 1 and "No account is named 'nobody'" in result.stderr


def test_db_upgrade_and_current_report_the_revision(tmp_path: Path) -> None:
    env = {"AKARI_DATA_DIR": str(tmp_path / "data")}
    upgraded = run_cli("db", "upgrade", env=env)
    assert upgraded.returncode == 0 and "empty ->" in upgraded.stdout
    current = run_cli("db", "current", env=env)
    assert current.returncode == 0 and "latest" in current.stdout


def test_retry_uploads_with_nothing_pending_succeeds(tmp_path: Path) -> None:
    result = run_cli("retry-uploads", env={"AKARI_DATA_DIR": str(tmp_path / "data")})
    assert result.returncode == 0 and "Uploaded 0" in result.stdout


def test_generate_goes_through_cloudflare_and_cloudinary_when_configured(tmp_path: Path, fake_workers_ai,
                                                                          fake_cloudinary) -> None:
    env = {"AKARI_DATA_DIR": str(tmp_path / "data"), **fake_workers_ai.env(), **fake_cloudinary.env()}
    result = run_cli("generate", "a purple nebula", "--seed", "99", "--steps", "8", "--json", env=env)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert (out["generator"], out["store"], out["status"]) == ("cloudflare", "cloudinary", "succeeded")
    assert out["model"] == "@cf/black-forest-labs/flux-1-schnell"
    assert out["neurons"] == 96.0
    assert fake_workers_ai.runs()[0].json == {"prompt": "a purple nebula", "steps": 8, "seed": 99}
    upload = fake_cloudinary.api_requests("upload")[0]
    assert upload.file_as_bytes_part
    assert "c_fill,f_auto,h_384,q_auto,w_384" in out["thumbnail_url"]
    assert out["url"].startswith(fake_cloudinary.base_url)


def test_a_provider_refusal_prints_the_users_sentence(tmp_path: Path, fake_workers_ai) -> None:
    fake_workers_ai.fail_next(3030, status=400, message="AiError: Input prompt contains NSFW content")
    env = {"AKARI_DATA_DIR": str(tmp_path / "data"), **fake_workers_ai.env()}
    result = run_cli("generate", "something", env=env)
    assert result.returncode == 1
    assert "safety filter refused this prompt" in result.stderr
    assert fake_workers_ai.token not in result.stderr + result.stdout


def test_an_upload_that_fails_is_kept_and_retry_uploads_stores_it(tmp_path: Path, fake_workers_ai,
                                                                  fake_cloudinary) -> None:
    env = {"AKARI_DATA_DIR": str(tmp_path / "data"), **fake_workers_ai.env(), **fake_cloudinary.env()}
    fake_cloudinary.fail_next(503, "Service Unavailable")
    result = run_cli("generate", "a lighthouse", "--json", env=env)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["status"] == "pending_upload"
    assert list((tmp_path / "data" / "spool").iterdir())

    retried = run_cli("retry-uploads", env=env)
    assert retried.returncode == 0 and "Uploaded 1" in retried.stdout
    assert not [p for p in (tmp_path / "data" / "spool").iterdir() if not p.name.startswith(".")]
    assert len(fake_cloudinary.uploads) == 1


def test_set_quota_gives_one_account_its_own_daily_limit_or_back_the_default(tmp_path: Path) -> None:
    env = {"AKARI_DATA_DIR": str(tmp_path / "data"), "AKARI_BCRYPT_ROUNDS": "4"}
    assert run_cli("users", "add", "alice", env=env, stdin="long enough password\n").returncode == 0
    assert run_cli("users", "set-quota", "alice", "3", env=env).returncode == 0
    listed = run_cli("users", "list", env=env).stdout.splitlines()
    assert " 3 " in next(line for line in listed if "alice" in line)
    assert run_cli("users", "set-quota", "alice", "default", env=env).returncode == 0
    assert "default" in run_cli("users", "list", env=env).stdout
    refused = run_cli("users", "set-quota", "alice", "lots", env=env)
    assert refused.returncode == 1 and "whole number" in refused.stderr and "Traceback" not in refused.stderr
    unknown = run_cli("users", "set-quota", "nobody", "3", env=env)
    assert unknown.returncode == 1 and "No account is named 'nobody'" in unknown.stderr


def test_a_headless_worker_runs_what_others_queued_and_stops_cleanly(tmp_path: Path) -> None:
    from akari.config import load_settings
    from akari.prompts import GenerationRequest
    from akari.studio import Studio

    env = {**os.environ, "AKARI_DATA_DIR": str(tmp_path / "data"), "AKARI_LEASE_SECONDS": "2"}
    studio = Studio.open(load_settings(env=env))  # no workers of its own: the app could be down
    worker = subprocess.Popen([sys.executable, "-m", "akari", "worker", "--workers", "2"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        user_id = studio.ensure_service_user("ada")
        ids = [studio.generations.submit(user_id, GenerationRequest(prompt=f"queued {n}")) for n in range(3)]
        assert {studio.generations.wait(i, timeout=60).status for i in ids} == {"succeeded"}
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=60)
        studio.close()
    assert worker.returncode == 0, err
    assert "2 worker(s)" in out and "Stopping" in out and "Traceback" not in err


def test_an_unreachable_database_is_a_sentence_not_a_traceback(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket is closed
    env = {"AKARI_DATA_DIR": str(tmp_path / "data"),
           "AKARI_DATABASE_URL": f"postgresql+psycopg://akari:secret-password@127.0.0.1:{port}/akari"}
    for args in (("users", "list"), ("generate", "a fox"), ("retry-uploads",)):
        result = run_cli(*args, env=env)
        assert result.returncode == 1, args
        assert "The studio's database cannot be reached right now" in result.stderr
        assert "Traceback" not in result.stderr and "secret-password" not in result.stderr + result.stdout
