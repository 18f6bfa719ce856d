"""The offline renderer: deterministic, labelled, network-free JPEG sketches derived from the prompt."""

from __future__ import annotations

import io
import socket

import numpy as np
import pytest
from PIL import Image

from akari.errors import InvalidInput
from akari.generators import GeneratedImage, ImageGenerator
from akari.generators.offline import LABEL, OfflineGenerator

PROMPT = "a purple nebula"


@pytest.fixture(scope="module")
def generator() -> OfflineGenerator:
    return OfflineGenerator()


def _mean_colour(image: GeneratedImage) -> np.ndarray:
    with Image.open(io.BytesIO(image.data)) as img:
        return np.asarray(img.convert("RGB").resize((64, 64)), np.float32).mean(axis=(0, 1))


def test_same_prompt_seed_and_steps_give_identical_bytes(generator: OfflineGenerator) -> None:
    first = generator.generate(PROMPT, steps=4, seed=12345)
    second = OfflineGenerator().generate(PROMPT, steps=4, seed=12345)
    assert first.data == second.data


def test_a_different_seed_gives_a_different_image(generator: OfflineGenerator) -> None:
    one = generator.generate(PROMPT, steps=4, seed=1)
    two = generator.generate(PROMPT, steps=4, seed=2)
    assert one.data != two.data
    with Image.open(io.BytesIO(one.data)) as a, Image.open(io.BytesIO(two.data)) as b:
        difference = np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean()
    assert difference > 5  # visibly different, not just different grain


def test_a_different_prompt_gives_a_different_palette(generator: OfflineGenerator) -> None:
    red = _mean_colour(generator.generate("a red abstract dream", steps=4, seed=7))
    blue = _mean_colour(generator.generate("a blue abstract dream", steps=4, seed=7))
    assert red[0] > blue[0] and blue[2] > red[2]
    assert np.abs(red - blue).sum() > 30


@pytest.mark.parametrize(
    "prompt",
    ["a purple nebula", "mountain landscape at sunset", "a neon city at night", "a cat portrait", "ocean waves", ""],
)
def test_every_scene_is_a_real_1024_jpeg(generator: OfflineGenerator, prompt: str) -> None:
    image = generator.generate(prompt, steps=2, seed=3)
    assert image.data[:3] == b"\xff\xd8\xff"
    with Image.open(io.BytesIO(image.data)) as img:
        assert (img.format, img.size, img.mode) == ("JPEG", (1024, 1024), "RGB")
    assert (image.format, image.width, image.height) == ("jpeg", 1024, 1024)


def test_the_image_says_it_is_an_offline_sketch_not_ai(generator: OfflineGenerator) -> None:
    image = generator.generate(PROMPT, steps=1, seed=99)
    assert image.meta["label"] == LABEL == "Offline sketch (not AI)"
    assert (image.generator, image.model) == ("offline", "akari-offline-sketch-v1")
    assert (image.seed, image.steps) == (99, 1)
    # The drawn label is a dark box with light text in the bottom-left corner.
    with Image.open(io.BytesIO(image.data)) as img:
        corner = np.asarray(img.convert("L"), np.float32)[960:1000, 24:300]
    assert corner.max() > 200 and corner.min() < 60


@pytest.mark.parametrize("steps", [0, 9, -1, True, 2.0, "4", None])
def test_steps_outside_one_to_eight_are_refused(generator: OfflineGenerator, steps: object) -> None:
    with pytest.raises(InvalidInput, match="Steps"):
        generator.generate(PROMPT, steps=steps, seed=1)  # type: ignore[arg-type]


def test_more_steps_change_the_image(generator: OfflineGenerator) -> None:
    assert generator.generate(PROMPT, steps=1, seed=5).data != generator.generate(PROMPT, steps=8, seed=5).data


def test_renders_with_the_network_switched_off(generator: OfflineGenerator, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> socket.socket:
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    image = generator.generate("ocean waves at sunset", steps=3, seed=11)
    assert image.width == 1024
    assert generator.check() == "Offline renderer ready"


def test_offline_generator_satisfies_the_protocol() -> None:
    generator: ImageGenerator = OfflineGenerator()
    assert generator.name == "offline"
