"""Several models in a real browser: two models at two aspect ratios, one from a reference image, and the usage
page's split by model."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.e2e.runs import settled
from tests.e2e.servers import ROOT, AppServer
from tests.fakes.cloudinary_server import FakeCloudinary
from tests.fakes.workers_ai import FakeWorkersAI
from tests.waiting import eventually

USER, PASSWORD = "mia", "models are many now"
KLEIN = "@cf/black-forest-labs/flux-2-klein-4b"
PHOENIX = "@cf/leonardo/phoenix-1.0"

expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, workers_ai: FakeWorkersAI,
           cloudinary: FakeCloudinary) -> Iterator[AppServer]:
    """An app of its own (the fakes are shared), with one administrator."""
    env = {**workers_ai.env(), **cloudinary.env(), "AKARI_READ_TIMEOUT": "5", "AKARI_MAX_RETRIES": "1"}
    app = AppServer(tmp_path_factory.mktemp("models") / "data", env=env).start()
    cli_env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "CLOUDINARY_", "AKARI_"))}
    cli_env.update({"AKARI_DATA_DIR": str(app.data_dir), "AKARI_BCRYPT_ROUNDS": "4", **app.env})
    subprocess.run([sys.executable, "-m", "akari", "users", "add", USER, "--admin"], cwd=ROOT, env=cli_env,
                   input=PASSWORD + "\n", text=True, check=True, capture_output=True, timeout=120)
    yield app
    app.stop()


def open_settings(page: Page) -> None:
    """The model and its inputs are in the Settings popover: open it unless it is open."""
    settled(page)
    if not page.locator(".st-key-gen_model").is_visible():
        page.locator(".st-key-gen_settings").get_by_role("button").first.click()
    expect(page.locator(".st-key-gen_model")).to_be_visible()


def pick_model(page: Page, label: str) -> None:
    """Open the model picker and choose; a click that lands during a rerun is lost, so try again until it took."""
    box = page.locator(".st-key-gen_model").get_by_role("combobox")
    for _attempt in range(5):
        open_settings(page)
        box.click()
        option = page.get_by_role("option", name=label, exact=True)
        try:
            option.click(timeout=3000)
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
            continue
        settled(page)
        if box.input_value() == label:
            return
    raise AssertionError(f"could not pick {label}")


def pick_aspect(page: Page, aspect: str) -> None:
    open_settings(page)
    page.locator(".st-key-gen_aspect").get_by_role("radio", name=aspect, exact=True).click()
    settled(page)


def generate(page: Page, prompt: str, workers_ai: FakeWorkersAI) -> dict:
    before = len(workers_ai.runs())
    made = re.compile(r"^Made in .* · seed")
    shown = page.get_by_text(made).count()
    page.keyboard.press("Escape")  # the Settings popover closes
    settled(page)
    page.get_by_role("textbox", name="Prompt", exact=True).fill(prompt)
    settled(page)
    page.get_by_role("button", name="Generate", exact=True).click()
    assert eventually(lambda: len(workers_ai.runs()) == before + 1)
    # The feed shows the new image as made (one caption per finished image here), not only the ones before it.
    expect(page.get_by_text(made)).to_have_count(shown + 1)
    settled(page)
    runs = workers_ai.runs()
    return {"model": runs[-1].model, **runs[-1].fields}


def test_two_models_two_aspect_ratios_a_reference_and_the_usage_split(server: AppServer, page: Page,
                                                                     workers_ai: FakeWorkersAI,
                                                                     screenshots: Path, tmp_path: Path) -> None:
    page.goto(f"{server.url}/generate")
    page.get_by_role("textbox", name="Username", exact=True).fill(USER)
    page.get_by_role("textbox", name="Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()

    pick_model(page, "Leonardo Phoenix 1.0")
    expect(page.get_by_text("2,370.0", exact=False)).to_be_visible()  # the estimate follows the model
    pick_aspect(page, "16:9")
    expect(page.get_by_text("1024×576", exact=False)).to_be_visible()
    open_settings(page)
    negative = page.get_by_role("textbox", name="Negative prompt")
    negative.fill("blurry")
    negative.press("Enter")  # committed before the popover closes
    settled(page)
    sent = generate(page, "a harbour at night, lanterns on the water", workers_ai)
    assert (sent["model"], sent["width"], sent["height"], sent["negative_prompt"]) == (PHOENIX, 1024, 576, "blurry")
    page.screenshot(path=str(screenshots / "models-phoenix-16x9.png"), full_page=True)

    pick_model(page, "FLUX.2 [klein] 4B")
    open_settings(page)
    expect(page.get_by_role("textbox", name="Negative prompt")).to_have_count(0)  # klein takes none
    pick_aspect(page, "9:16")
    sent = generate(page, "a lighthouse on a cliff, tall view", workers_ai)
    assert (sent["model"], sent["width"], sent["height"]) == (KLEIN, "576", "1024")  # multipart: text fields

    reference = tmp_path / "reference.png"
    Image.new("RGB", (800, 600), (230, 120, 20)).save(reference)
    open_settings(page)
    page.locator(".st-key-gen_reference_upload input[type=file]").set_input_files(str(reference))
    open_settings(page)
    expect(page.get_by_text("109.6", exact=False)).to_be_visible()  # 104.2 + one input tile at 5.37
    sent = generate(page, "the same lighthouse in autumn colours", workers_ai)
    assert sent["model"] == KLEIN and "input_image_0" in sent
    with Image.open(io.BytesIO(sent["input_image_0"])) as shrunk:
        assert max(shrunk.size) <= 512
    page.screenshot(path=str(screenshots / "models-klein-reference.png"), full_page=True)
    if os.environ.get("AKARI_README_SHOTS") == "1":  # the README's picture changes only when asked to
        shutil.copy(screenshots / "models-klein-reference.png", ROOT / "docs" / "models.png")

    page.goto(f"{server.url}/usage")
    expect(page.get_by_role("heading", name="By model")).to_be_visible()
    settled(page)
    table = page.get_by_test_id("stTable")
    expect(table).to_contain_text("Leonardo Phoenix 1.0")
    expect(table).to_contain_text("FLUX.2 [klein] 4B")
    expect(table).to_contain_text("2,370.0")
    expect(table).to_contain_text("213.8")  # klein: 104.2 alone, 109.6 with the reference
    page.screenshot(path=str(screenshots / "models-usage.png"), full_page=True)
