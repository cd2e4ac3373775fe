"""Stage 2 on the real model: the walk improves on its start, and resuming changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from voicelab.engine.config import EvolutionSettings
from voicelab.engine.evolution import Phase, StepEvent, VoiceEvolver, WalkState, starting_point
from voicelab.engine.scoring import FitnessScorer, Target, each
from voicelab.engine.start import start_candidates
from voicelab.engine.voices import population_std

REFERENCE = "Buenos días, gracias por llamar. Le atiende el servicio de atención al cliente."
SETTINGS = EvolutionSettings(optimizer="walk", steps=8, seed=11, interpolation_alphas=(0.0,), checkpoint_every=2)


@pytest.fixture(scope="module")
def scorer(onnx_synthesizer, stock_voice: Callable) -> FitnessScorer:
    """em_santa is the speaker to reach; the walk starts from the other two voices."""
    reference = onnx_synthesizer.synthesize(REFERENCE, stock_voice("em_santa"))
    return FitnessScorer(
        target=Target.from_audio(reference, 24_000),
        render=each(onnx_synthesizer.synthesize),
        texts=("Hola.", "Gracias."),
    )


@pytest.fixture(scope="module")
def bases(stock_voice: Callable) -> dict[str, torch.Tensor]:
    return {name: stock_voice(name) for name in ("ef_dora", "em_alex")}


def walk(scorer: FitnessScorer, bases: dict, checkpoint: Path, settings: EvolutionSettings, **kwargs) -> WalkState:
    events: list[StepEvent] = []
    phases: list[Phase] = []
    state = VoiceEvolver(
        scorer=scorer,
        candidates=start_candidates(bases, list(bases), settings.interpolation_alphas),
        spread=population_std(list(bases.values())),
        settings=settings,
        checkpoint=checkpoint,
        on_step=events.append,
        on_phase=phases.append,
    ).run(**kwargs)
    state.events, state.phases = events, phases  # for the assertions below
    return state


@pytest.fixture(scope="module")
def uninterrupted(scorer: FitnessScorer, bases: dict, tmp_path_factory: pytest.TempPathFactory) -> WalkState:
    return walk(scorer, bases, tmp_path_factory.mktemp("walk") / "neutral.ckpt", SETTINGS)


def test_start_is_the_best_candidate(scorer: FitnessScorer, bases: dict) -> None:
    candidates = start_candidates(bases, list(bases), (0.0, 1.5))
    assert set(candidates) == {"ef_dora", "em_alex", "ef_dora~em_alex@+0.0", "ef_dora~em_alex@+1.5"}
    phases: list[Phase] = []
    voice, score, origin = starting_point(scorer, candidates, batch=3, on_phase=phases.append)
    assert origin in candidates and torch.equal(voice, candidates[origin])
    others = [scorer.score(v).score for v in bases.values()]
    assert score.score >= max(others) and voice.shape == (510, 1, 256)
    # The page says what happens before step one: 0/4, then after each batch of three.
    assert [(p.name, p.done, p.total) for p in phases] == [("choosing a start voice", n, 4) for n in (0, 3, 4)]


def test_the_walk_rises_above_its_start(uninterrupted: WalkState) -> None:
    events = uninterrupted.events
    assert [e.step for e in events] == list(range(1, 9))
    assert uninterrupted.phases[-1] == Phase("choosing a start voice", 3, 3)
    assert uninterrupted.best_score.score > uninterrupted.start_score
    assert uninterrupted.start is not None and uninterrupted.optimizer == "walk"
    assert uninterrupted.best_score.score == max(e.best_score for e in events)
    assert [e.best_score for e in events] == sorted(e.best_score for e in events)  # never goes back
    assert all(e.score > 0 for e in events if e.complete)
    assert all(e.score == 0.0 for e in events if not e.complete)  # early termination, reported as such


def test_resume_gives_the_same_walk(
    scorer: FitnessScorer, bases: dict, uninterrupted: WalkState, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "neutral.ckpt"
    walk(scorer, bases, checkpoint, replace(SETTINGS, steps=5))  # "killed" after step 5
    assert WalkState.load(checkpoint).step == 5
    resumed = walk(scorer, bases, checkpoint, SETTINGS, resume=True)
    assert [e.step for e in resumed.events] == [6, 7, 8]
    assert torch.equal(resumed.best, uninterrupted.best)

    def strip(history: list[dict]) -> list[dict]:
        return [{k: v for k, v in h.items() if k != "elapsed"} for h in history]

    assert strip(resumed.history) == strip(uninterrupted.history)


def test_checkpoint_holds_the_best_voice(uninterrupted: WalkState, tmp_path: Path) -> None:
    path = tmp_path / "copy.ckpt"
    uninterrupted.save(path)
    loaded = WalkState.load(path)
    assert torch.equal(loaded.best, uninterrupted.best) and loaded.best_score == uninterrupted.best_score
    assert (loaded.step, loaded.seed, loaded.origin) == (8, 11, uninterrupted.origin)


def test_batched_walk_is_deterministic_and_resumes_exactly(scorer: FitnessScorer, bases: dict, tmp_path: Path) -> None:
    batched = replace(SETTINGS, steps=6, batch=3)
    whole = walk(scorer, bases, tmp_path / "whole.ckpt", batched)
    assert [e.step for e in whole.events] == [1, 2, 3, 4, 5, 6]
    assert sum(e.accepted for e in whole.events[:3]) <= 1  # at most one winner per batch
    walk(scorer, bases, tmp_path / "killed.ckpt", replace(batched, steps=3))
    resumed = walk(scorer, bases, tmp_path / "killed.ckpt", batched, resume=True)
    assert torch.equal(resumed.best, whole.best) and resumed.best_score == whole.best_score


def test_scoring_many_equals_scoring_one_by_one(scorer: FitnessScorer, bases: dict) -> None:
    voices = list(bases.values())
    one_by_one = [scorer.score(voice) for voice in voices]
    assert scorer.score_many(voices) == one_by_one
