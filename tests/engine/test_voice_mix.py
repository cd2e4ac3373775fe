"""Weighted voice mixes as Kokoro-FastAPI's users write them."""

from __future__ import annotations

import pytest
import torch

from voicelab.engine.voice_mix import MixError, blend, parse_mix


def test_weights_are_normalised_and_default_to_one() -> None:
    assert parse_mix("amable(2)+neutral(1)") == [("amable", pytest.approx(2 / 3)), ("neutral", pytest.approx(1 / 3))]
    assert parse_mix(" Empático + ef_dora ") == [("empatico", 0.5), ("ef_dora", 0.5)]
    assert parse_mix("neutral") == [("neutral", 1.0)]
    assert parse_mix("neutral(1)+neutral(3)") == [("neutral", 1.0)]


@pytest.mark.parametrize("spec", ["", "amable(2", "amable(-1)", "amable(0)", "amable()+", "a+b(x)", "../etc"])
def test_a_mix_that_cannot_be_read_says_how_to_write_one(spec: str) -> None:
    with pytest.raises(MixError, match=r"must be more than 0|mix like amable\(2\)\+neutral\(1\)"):
        parse_mix(spec)


def test_the_blend_is_the_weighted_sum() -> None:
    voices = {"a": torch.ones(510, 1, 256), "b": torch.zeros(510, 1, 256)}
    mixed = blend(parse_mix("a(3)+b(1)"), voices.__getitem__)
    assert mixed.shape == (510, 1, 256) and torch.allclose(mixed, torch.full((510, 1, 256), 0.75))
