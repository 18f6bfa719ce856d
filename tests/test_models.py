"""Every model end to end through the real requests client against its fake: formats, sizes, references, errors."""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from akari.errors import GenerationError, InvalidInput
from akari.generators import ModelInputs
from akari.generators.cloudflare import CloudflareGenerator
from akari.generators.offline import OfflineGenerator
from akari.models_catalog import ASPECTS, CATALOG, DEFAULT_MODEL, get_model
from tests.fakes.workers_ai import FakeWorkersAI
from tests.fakes.workers_ai_models import FAKE_MODELS

SCHNELL = "@cf/black-forest-labs/flux-1-schnell"
KLEIN = "@cf/black-forest-labs/flux-2-klein-4b"
PHOENIX = "@cf/leonardo/phoenix-1.0"
SDXL = "@cf/bytedance/stable-diffusion-xl-lightning"


def picture(colour: tuple[int, int, int], size: tuple[int, int] = (900, 700), fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=fmt)
    return out.getvalue()


def mean_colour(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB").resize((32, 32)), np.float32).mean(axis=(0, 1))


@pytest.fixture
def client(fake_workers_ai: FakeWorkersAI) -> Iterator[CloudflareGenerator]:
    generator = CloudflareGenerator(fake_workers_ai.account_id, fake_workers_ai.token,
                                    api_base=fake_workers_ai.api_base, read_timeout=5, max_retries=0)
    yield generator
    generator.close()


def test_every_catalogued_model_has_a_fake_and_the_default_is_schnell() -> None:
    assert set(CATALOG) == set(FAKE_MODELS)
    assert DEFAULT_MODEL == SCHNELL and {SCHNELL, KLEIN, PHOENIX, SDXL} <= set(CATALOG)


def test_default_prices_match_the_published_formulas() -> None:
    assert get_model(SCHNELL).neurons() == 57.6  # 4 tiles x 4.80 + 4 steps x 9.60
    assert get_model(KLEIN).neurons() == 104.2  # 1024x768 = 4 tiles x 26.05
    assert get_model(KLEIN).neurons(references=2) == round(104.2 + 2 * 5.37, 2)
    assert get_model(PHOENIX).neurons() == 2370.0  # 4 x 530 + 25 x 10
    assert get_model(SDXL).neurons() == 0.0
    assert get_model(PHOENIX).neurons(1024, 576, 10) == 4 * 530 + 100  # partial tiles round up


@pytest.mark.parametrize("model", sorted(CATALOG))
@pytest.mark.parametrize("aspect", sorted(ASPECTS))
def test_aspect_presets_give_sizes_the_model_accepts(model: str, aspect: str) -> None:
    spec = get_model(model)
    width, height = spec.size_for(aspect)
    if spec.takes_size:
        assert spec.check_size(width, height) == (width, height)
        a, b = ASPECTS[aspect]
        assert abs(width / height - a / b) < 0.03
    else:
        assert (width, height) == spec.fixed_size


def test_schnell_is_sent_json_and_answers_base64_jpeg(client, fake_workers_ai) -> None:
    image = client.generate("a purple nebula", steps=6, seed=7)
    assert (image.format, image.width, image.height, image.model) == ("jpeg", 1024, 1024, SCHNELL)
    assert fake_workers_ai.runs()[-1].json == {"prompt": "a purple nebula", "steps": 6, "seed": 7}


def test_klein_is_sent_multipart_even_for_a_prompt_alone(client, fake_workers_ai) -> None:
    image = client.generate("a lighthouse", steps=4, seed=3, inputs=ModelInputs(KLEIN, 1024, 576))
    sent = fake_workers_ai.runs()[-1]
    assert sent.headers["content-type"].startswith("multipart/form-data") and sent.json is None
    assert sent.form == {"prompt": "a lighthouse", "seed": "3", "width": "1024", "height": "576"}
    assert sent.model == KLEIN and "steps" not in sent.form
    assert (image.format, image.width, image.height, image.model) == ("jpeg", 1024, 576, KLEIN)


def test_klein_reference_images_go_as_files_shrunk_under_its_limit_and_steer_the_colours(client,
                                                                                         fake_workers_ai) -> None:
    red = picture((220, 20, 20), (1600, 1200))
    image = client.generate("a fox", steps=4, seed=1, inputs=ModelInputs(KLEIN, 768, 768, references=(red,)))
    files = fake_workers_ai.runs()[-1].files
    assert list(files) == ["input_image_0"]
    with Image.open(io.BytesIO(files["input_image_0"])) as sent:
        assert max(sent.size) <= 512 and sent.size[0] > sent.size[1]
    with Image.open(io.BytesIO(image.data)) as made:
        centre = made.convert("RGB").getpixel((384, 384))
    assert centre[0] > 180 and centre[1] < 60  # the fake paints the reference's colour in the middle


def test_phoenix_answers_raw_jpeg_bytes_with_its_own_field_names(client, fake_workers_ai) -> None:
    image = client.generate("a cat", steps=25, seed=5, inputs=ModelInputs(
        PHOENIX, 1344, 768, guidance=3.5, negative_prompt="blurry"))
    sent = fake_workers_ai.runs()[-1].json
    assert sent == {"prompt": "a cat", "num_steps": 25, "seed": 5, "width": 1344, "height": 768, "guidance": 3.5,
                    "negative_prompt": "blurry"}
    assert (image.format, image.width, image.height, image.model) == ("jpeg", 1344, 768, PHOENIX)


def test_sdxl_lightning_answers_raw_png_and_takes_a_reference_as_base64(client, fake_workers_ai) -> None:
    blue = picture((20, 40, 230), fmt="JPEG")
    image = client.generate("a city", steps=8, seed=9, inputs=ModelInputs(
        SDXL, 768, 1024, negative_prompt="text", references=(blue,)))
    sent = fake_workers_ai.runs()[-1].json
    assert sent["num_steps"] == 8 and sent["negative_prompt"] == "text" and "image_b64" in sent
    assert (image.format, image.width, image.height) == ("png", 768, 1024)


@pytest.mark.parametrize(("inputs", "said"), [
    (ModelInputs(PHOENIX, guidance=1.0), "/guidance must be a number >= 2 and <= 10"),
    (ModelInputs(SDXL, 4096, 1024), "/width must be >= 256 and <= 2048"),
    (ModelInputs(KLEIN, 2048, 1024), "'width' must be >= 256 and <= 1920"),
])
def test_each_model_reports_its_own_validation_errors_naming_the_field(client, inputs, said) -> None:
    """The client leaves ranges to the core's checks, so these reach the fake: its own words come back."""
    with pytest.raises(GenerationError) as caught:
        client.generate("p", steps=get_model(inputs.model).default_steps, seed=1, inputs=inputs)
    assert caught.value.reason == "rejected_field" and said in caught.value.message
    assert caught.value.field in ("guidance", "width")


def test_a_field_the_provider_stopped_accepting_is_named_in_words(client, fake_workers_ai) -> None:
    fake_workers_ai.refuse_field(SCHNELL, "seed")
    with pytest.raises(GenerationError) as caught:
        client.generate("a purple nebula", steps=4, seed=1)
    error = caught.value
    assert error.reason == "rejected_field" and error.field == "seed" and not error.retryable
    assert 'FLUX.1 [schnell] refused the "seed" input' in error.message
    assert "must NOT have additional properties 'seed'" in error.message


def test_a_plain_bad_input_without_a_field_keeps_the_old_sentence(client, fake_workers_ai) -> None:
    fake_workers_ai.fail_next(5006, message="AiError: Bad input: Error: oneOf at '/' not met")
    with pytest.raises(GenerationError) as caught:
        client.generate("a purple nebula", steps=4, seed=1)
    assert caught.value.reason == "invalid_input"


def test_connection_check_names_each_model_and_spots_one_missing(client, fake_workers_ai) -> None:
    for model in CATALOG:
        assert model in client.check(model)
    fake_workers_ai.hide_model(PHOENIX)
    with pytest.raises(GenerationError, match=r"Leonardo Phoenix 1\.0 is not available"):
        client.check(PHOENIX)


def test_inputs_a_model_does_not_take_are_refused_in_words() -> None:
    with pytest.raises(InvalidInput, match="makes 1024x1024 images only"):
        get_model(SCHNELL).check_size(1024, 768)
    with pytest.raises(InvalidInput, match="no negative prompt"):
        get_model(KLEIN).check_negative_prompt("blurry")
    with pytest.raises(InvalidInput, match="cannot start from a reference image"):
        get_model(PHOENIX).check_references(1)
    with pytest.raises(InvalidInput, match="steps of 16"):
        get_model(KLEIN).check_size(1000, 768)
    with pytest.raises(InvalidInput, match="from 2 to 10"):
        get_model(PHOENIX).check_guidance(1.0)


def test_offline_sketch_honours_the_size_and_a_references_palette() -> None:
    offline = OfflineGenerator()
    plain = offline.generate("a quiet meadow", steps=4, seed=2, inputs=ModelInputs(KLEIN, 1024, 576))
    assert (plain.width, plain.height) == (1024, 576) and plain.generator == "offline"
    green = offline.generate("a quiet meadow", steps=4, seed=2,
                             inputs=ModelInputs(KLEIN, 1024, 576, references=(picture((10, 200, 40)),)))
    magenta = offline.generate("a quiet meadow", steps=4, seed=2,
                               inputs=ModelInputs(KLEIN, 1024, 576, references=(picture((220, 20, 200)),)))
    g, m = mean_colour(green.data), mean_colour(magenta.data)
    assert g[1] > g[0] and g[1] > g[2] and m[0] > m[1] and m[2] > m[1]
    assert green.meta["label"] == "Offline sketch (not AI)"
