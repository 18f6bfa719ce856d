"""Prompt validation: bad input gets a clear sentence; good input is trimmed and given a seed."""

from __future__ import annotations

import pytest

from akari.errors import InvalidInput
from akari.pricing import dollars_for, neurons_for
from akari.prompts import GenerationRequest, apply_style, validate


@pytest.mark.parametrize(
    ("prompt", "words"),
    [
        ("", "Write a prompt"),
        ("   \n\t ", "Write a prompt"),
        ("x" * 2049, "2,049 characters"),
        ("a cat\x00", "control characters"),
        ("a \x1b[31mred\x1b[0m cat", "control characters"),
        ("\u200b", "Write a prompt"),  # zero-width space: nothing to see, nothing to pay for
        ("\ufeff\u200b\u00a0\u2003", "Write a prompt"),  # byte-order mark, zero-width and wide spaces
        ("a \ud800 cat", "broken character"),  # half of a surrogate pair: cannot even be encoded
        ("\udfff", "broken character"),
    ],
)
def test_a_bad_prompt_is_refused_with_a_sentence(prompt: str, words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate(GenerationRequest(prompt=prompt))
    assert words in caught.value.message


@pytest.mark.parametrize("steps", [0, 9, -1, 4.5, "4", True])
def test_steps_out_of_range_are_refused(steps: object) -> None:
    with pytest.raises(InvalidInput, match="Steps must be"):
        validate(GenerationRequest(prompt="a cat", steps=steps))  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [-1, 2**32, "7"])
def test_a_bad_seed_is_refused(seed: object) -> None:
    with pytest.raises(InvalidInput, match="seed"):
        validate(GenerationRequest(prompt="a cat", seed=seed))  # type: ignore[arg-type]


def test_a_good_prompt_is_trimmed_and_gets_a_random_seed() -> None:
    clean = validate(GenerationRequest(prompt="  a purple nebula \n", steps=8))
    assert clean.prompt == "a purple nebula"
    assert clean.steps == 8
    assert isinstance(clean.seed, int) and 0 <= clean.seed < 2**31


def test_the_longest_allowed_prompt_and_newlines_are_accepted() -> None:
    assert validate(GenerationRequest(prompt="a\nb\t" + "x" * 2044)).prompt.startswith("a\nb")


def test_pasted_windows_and_old_mac_line_breaks_become_plain_newlines() -> None:
    assert validate(GenerationRequest(prompt="a fox\r\nin the snow\rat dawn")).prompt == "a fox\nin the snow\nat dawn"


def test_visible_text_with_invisible_characters_around_it_is_accepted() -> None:
    assert validate(GenerationRequest(prompt="\u200ba fox\ufeff")).prompt == "\u200ba fox\ufeff"
    assert validate(GenerationRequest(prompt="🦊")).prompt == "🦊"


def test_a_style_that_pushes_the_prompt_over_the_limit_says_so_in_those_words() -> None:
    with pytest.raises(InvalidInput) as caught:
        apply_style("x" * 2040, "Photograph")
    assert "Photograph style adds" in caught.value.message and "the limit is 2,048" in caught.value.message
    assert "Shorten the prompt by" in caught.value.message


def test_the_source_must_be_a_known_one() -> None:
    assert validate(GenerationRequest(prompt="a fox", source="api")).source == "api"
    with pytest.raises(InvalidInput):
        validate(GenerationRequest(prompt="a fox", source="mail"))


def test_a_style_wraps_the_prompt_in_its_template() -> None:
    assert apply_style(" a fox ", "Watercolour").startswith("a fox, delicate watercolour")
    assert apply_style("a fox", "None") == "a fox"
    with pytest.raises(InvalidInput):
        apply_style("a fox", "Baroque")


def test_the_price_of_a_1024_image_follows_the_published_rates() -> None:
    assert neurons_for(4) == 57.6
    assert neurons_for(8) == 96.0
    assert round(dollars_for(57.6), 6) == 0.000634
