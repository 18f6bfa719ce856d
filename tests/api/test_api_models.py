"""The HTTP API speaks models: model, aspect or size, negative prompt, guidance, a reference, in the core's words."""

from __future__ import annotations

from typing import Any

import pytest

from akari.errors import InvalidInput
from akari.model_choice import ModelChoice
from akari.models_catalog import CATALOG, DEFAULT_MODEL, get_model
from akari.prompts import GenerationRequest, validate
from akari.quota import seconds_until_reset
from tests.api.harness import Api

SCHNELL = DEFAULT_MODEL
KLEIN = "@cf/black-forest-labs/flux-2-klein-4b"
PHOENIX = "@cf/leonardo/phoenix-1.0"
SDXL = "@cf/bytedance/stable-diffusion-xl-lightning"


def _get(api: Api, who: str, generation_id: int) -> dict[str, Any]:
    answer = api.call("GET", f"/api/generations/{generation_id}", who)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_model_an_aspect_a_negative_prompt_and_guidance_are_made_and_read_back(api: Api) -> None:
    api.user("ann")
    answer = api.make("ann", "a harbour at dawn", model=PHOENIX, aspect="16:9", negative_prompt="fog",
                      guidance=3.5, steps=10)
    assert answer.status_code == 200, answer.text
    made = _get(api, "ann", answer.json()["id"])
    spec = get_model(PHOENIX)
    assert (made["width"], made["height"]) == spec.size_for("16:9") == (1024, 576)
    assert (made["model"], made["model_label"], made["steps"], made["guidance"], made["negative_prompt"]) == (
        PHOENIX, "Leonardo Phoenix 1.0", 10, 3.5, "fog")
    assert made["neurons"] == spec.neurons(1024, 576, 10) and made["reference"] is None


def test_a_size_and_a_reference_id_start_from_a_visible_generation_only(api: Api) -> None:
    api.user("ben")
    api.user("bo")
    first = api.make("ben", "a red kite").json()
    answer = api.make("ben", "the kite at night", model=KLEIN, width=512, height=768, reference_id=first["id"])
    assert answer.status_code == 200, answer.text
    made = _get(api, "ben", answer.json()["id"])
    assert (made["model"], made["width"], made["height"], made["steps"]) == (KLEIN, 512, 768, 4)
    assert made["reference"] is not None and made["reference"]["key"]
    refused = api.make("bo", "the kite again", model=KLEIN, reference_id=first["id"])  # ben's, private
    assert (refused.status_code, refused.json()["reason"]) == (400, "invalid_input")
    assert refused.json()["error"].startswith("That image cannot be used as a reference")


@pytest.mark.parametrize("body", [
    {"model": "@cf/nobody/nothing"},
    {"model": 7},
    {"model": PHOENIX, "steps": 60},
    {"steps": 9},
    {"negative_prompt": "fog"},
    {"guidance": 2.0},
    {"aspect": "16:9"},
    {"model": PHOENIX, "aspect": "2:1"},
    {"model": PHOENIX, "aspect": "4:3", "width": 1024},
    {"model": PHOENIX, "width": 100, "height": 512},
    {"model": PHOENIX, "width": "wide", "height": 512},
    {"model": KLEIN, "guidance": 11},
    {"model": PHOENIX, "reference_id": 1},
    {"model": KLEIN, "reference_id": "one"},
])
def test_bad_model_inputs_get_400_in_the_cores_own_words(api: Api, body: dict[str, Any]) -> None:
    if "ivy" not in api.tokens:
        api.user("ivy")
    request = GenerationRequest("a bay", steps=body.get("steps"), source="api", width=body.get("width"),
                                height=body.get("height"), aspect=body.get("aspect"), guidance=body.get("guidance"),
                                negative_prompt=body.get("negative_prompt"), reference_from=body.get("reference_id"))
    with pytest.raises(InvalidInput) as core:
        validate(request, get_model(body.get("model", SCHNELL)))
    answer = api.make("ivy", "a bay", **body)
    assert (answer.status_code, answer.json()) == (400, {"error": core.value.message, "reason": "invalid_input"})


def test_no_model_means_the_admins_default_with_its_own_steps_and_a_disabled_one_is_refused(api: Api) -> None:
    api.user("dee")
    choice = ModelChoice(api.studio.sessions)
    choice.set([SCHNELL, SDXL], SDXL)
    try:
        made = _get(api, "dee", api.make("dee", "a quiet street").json()["id"])
        assert (made["model"], made["steps"], made["width"]) == (SDXL, 20, 1024)
        listed = api.call("GET", "/api").json()
        assert listed["model"] == SDXL and [m["id"] for m in listed["models"]] == [SCHNELL, SDXL]
        refused = api.make("dee", "a quiet street", model=PHOENIX)
        assert (refused.status_code, refused.json()["error"]) == (
            400, "Leonardo Phoenix 1.0 is not enabled on this server. Pick one of: FLUX.1 [schnell], "
            "SDXL Lightning (beta).")
    finally:
        choice.set(list(CATALOG), SCHNELL)


def test_the_neuron_quota_answers_429_with_its_own_reason_and_a_cheap_model_still_fits(api: Api) -> None:
    api.user("nia")
    api.studio.quotas.set_user_neurons(api.users["nia"].id, 100)
    refused = api.make("nia", "a cathedral", model=PHOENIX)
    assert (refused.status_code, refused.json()["reason"]) == (429, "neuron_quota")
    assert "neurons" in refused.json()["error"]
    assert abs(int(refused.headers["Retry-After"]) - seconds_until_reset()) <= 5
    assert api.make("nia", "a cathedral").status_code == 200  # FLUX.1: 57.6 neurons


def test_usage_splits_by_model_on_request(api: Api) -> None:
    api.user("max")
    for body in ({}, {"model": PHOENIX, "steps": 2}, {"model": PHOENIX, "steps": 2}):
        assert api.make("max", "a field of poppies", **body).status_code == 200
    split = api.call("GET", "/api/usage?by=model", "max").json()["per_model"]
    phoenix = get_model(PHOENIX).neurons(steps=2)
    assert [(m["model"], m["generations"], m["succeeded"], m["neurons"]) for m in split] == [
        (PHOENIX, 2, 2, 2 * phoenix), (SCHNELL, 1, 1, 57.6)]
    assert split[0]["label"] == "Leonardo Phoenix 1.0" and split[0]["dollars"] == round(2 * phoenix * 0.011 / 1000, 4)
    assert "per_model" not in api.call("GET", "/api/usage", "max").json()
    wrong = api.call("GET", "/api/usage?by=colour", "max")
    assert (wrong.status_code, wrong.json()["reason"]) == (400, "invalid_input")
