"""The fitness scorer: the formula on hand-computed inputs, and real voices ranked correctly."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from voicelab.engine.config import ScoringWeights
from voicelab.engine.scoring import (
    FitnessScorer,
    Target,
    describe,
    each,
    feature_similarity,
    weighted_harmonic_mean,
)

SEED_WEIGHTS = ScoringWeights().as_tuple()
REFERENCE = "Buenos días, gracias por llamar a nuestro servicio. Le atiende el departamento de facturación."
TEXTS = ("Su pedido llegará mañana.", "Gracias por su paciencia.")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # 1 / (0.48/0.8 + 0.50/0.9 + 0.02/0.5) = 1 / 1.195556 = 0.836431
        ((0.8, 0.9, 0.5), 0.836431),
        ((1.0, 1.0, 1.0), 1.0),
        # 1 / (0.48/0.5 + 0.50/0.5 + 0.02/1.0) = 1 / 1.98 = 0.505051
        ((0.5, 0.5, 1.0), 0.505051),
        ((0.9, 0.0, 0.9), 0.0),  # a zero term dominates a harmonic mean
    ],
)
def test_weighted_harmonic_mean_matches_hand_computation(values: tuple[float, ...], expected: float) -> None:
    assert weighted_harmonic_mean(values, SEED_WEIGHTS) == pytest.approx(expected, abs=1e-6)


def test_seed_weights() -> None:
    assert SEED_WEIGHTS == (0.48, 0.50, 0.02)


def test_features_of_a_clip_match_themselves_best(speak: Callable) -> None:
    low, high = speak(pitch=20), speak(pitch=80)
    a, b = describe(low.samples, low.sample_rate), describe(high.samples, high.sample_rate)
    assert feature_similarity(a, a) == pytest.approx(1.0)
    assert feature_similarity(a, b) < 0.97


@pytest.fixture(scope="module")
def scorer(onnx_synthesizer, stock_voice: Callable) -> FitnessScorer:
    """em_santa speaking the reference is the target; candidates render two other texts."""
    reference = onnx_synthesizer.synthesize(REFERENCE, stock_voice("em_santa"))
    return FitnessScorer(
        target=Target.from_audio(reference, 24_000), render=each(onnx_synthesizer.synthesize), texts=TEXTS
    )


def test_the_target_voice_scores_highest(scorer: FitnessScorer, stock_voice: Callable) -> None:
    scores = {name: scorer.score(stock_voice(name)) for name in ("em_santa", "em_alex", "ef_dora")}
    assert scores["em_santa"].score > scores["em_alex"].score > scores["ef_dora"].score
    assert scores["em_santa"].target > scores["ef_dora"].target
    for score in scores.values():
        assert score.complete and 0 < score.score < 100
        expected = weighted_harmonic_mean((score.target, score.self_similarity, score.features), SEED_WEIGHTS)
        assert score.score == pytest.approx(expected * 100)


def test_early_termination_skips_a_hopeless_candidate(scorer: FitnessScorer, stock_voice: Callable) -> None:
    best = scorer.score(stock_voice("em_santa"))
    skipped = scorer.score(stock_voice("ef_dora"), best_target=best.target)
    assert not skipped.complete and skipped.score == 0.0 and skipped.target < 0.98 * best.target
    kept = scorer.score(stock_voice("em_santa"), best_target=best.target * 0.9)
    assert kept.complete and kept.score > 0


def test_self_similarity_needs_two_texts(onnx_synthesizer, greeting) -> None:
    target = Target(np.ones(256) / 16, describe(greeting.samples, greeting.sample_rate), np.ones(192) / np.sqrt(192))
    with pytest.raises(ValueError, match="two different texts"):
        FitnessScorer(target=target, render=each(onnx_synthesizer.synthesize), texts=("Hola.", "Hola."))
