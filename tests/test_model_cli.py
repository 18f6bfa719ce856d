"""The command line speaks every model: model, aspect, negative prompt, reference, and the neuron quota."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from tests.test_cli import run_cli

PHOENIX = "@cf/leonardo/phoenix-1.0"
KLEIN = "@cf/black-forest-labs/flux-2-klein-4b"


def test_generate_with_a_model_an_aspect_and_a_negative_prompt(tmp_path: Path, fake_workers_ai) -> None:
    env = {"AKARI_DATA_DIR": str(tmp_path / "data"), **fake_workers_ai.env()}
    result = run_cli("generate", "a harbour", "--model", PHOENIX, "--aspect", "16:9", "--negative-prompt", "fog",
                     "--json", env=env)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert (out["model"], out["width"], out["height"], out["steps"]) == (PHOENIX, 1024, 576, 25)
    assert (out["negative_prompt"], out["neurons"]) == ("fog", 4 * 530 + 25 * 10)
    assert fake_workers_ai.runs()[-1].json["negative_prompt"] == "fog"


def test_generate_from_a_reference_file(tmp_path: Path, fake_workers_ai) -> None:
    reference = tmp_path / "ref.png"
    Image.new("RGB", (700, 700), (0, 90, 200)).save(reference)
    env = {"AKARI_DATA_DIR": str(tmp_path / "data"), **fake_workers_ai.env()}
    result = run_cli("generate", "a bay", "--model", KLEIN, "--reference", str(reference), "--json", env=env)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["model"] == KLEIN and out["reference_key"]
    assert "input_image_0" in fake_workers_ai.runs()[-1].files


def test_an_input_the_model_does_not_take_is_refused_in_words(tmp_path: Path) -> None:
    env = {"AKARI_DATA_DIR": str(tmp_path / "data")}
    result = run_cli("generate", "a bay", "--model", PHOENIX, "--reference", str(tmp_path / "none.png"), env=env)
    assert result.returncode == 1 and "Cannot read the reference image" in result.stderr
    result = run_cli("generate", "a bay", "--aspect", "16:9", env=env)
    assert result.returncode == 1 and "makes 1024x1024 images only" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_admin_sets_one_accounts_neuron_quota_and_it_holds(tmp_path: Path, fake_workers_ai) -> None:
    env = {"AKARI_DATA_DIR": str(tmp_path / "data"), **fake_workers_ai.env()}
    assert run_cli("users", "add", "ada", env={**env, "AKARI_BCRYPT_ROUNDS": "4"},
                   stdin="a long enough password\n").returncode == 0
    result = run_cli("users", "set-neurons", "ada", "100", env=env)
    assert result.returncode == 0 and "100 neurons a day" in result.stdout
    assert run_cli("generate", "one", "--user", "ada", env=env).returncode == 0  # 57.6
    refused = run_cli("generate", "two", "--user", "ada", env=env)
    assert refused.returncode == 1 and "42.4 of today's 100 left" in refused.stderr
    assert run_cli("users", "set-neurons", "ada", "lots", env=env).returncode == 1
