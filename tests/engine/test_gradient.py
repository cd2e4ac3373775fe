"""The gradient search on the real model: a few steps move a voice towards a stock-voice target
(judged on phrases it never trained on), and a resumed search equals an uninterrupted one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from voicelab.engine.config import EvolutionSettings
from voicelab.engine.evolution import StepEvent, WalkState
from voicelab.engine.gradient import GradientSearch
from voicelab.engine.judges import campp_embedding
from voicelab.engine.scoring import Target, cosine, each
from voicelab.engine.stock import stock_voices
from voicelab.engine.voices import population_std

REFERENCE = "Buenos días, gracias por llamar. Le atiende el servicio de atención al cliente, ¿en qué puedo ayudarle?"
HELD_OUT = ("El plazo de entrega es de tres a cinco días laborables.", "Le llamamos para confirmar su cita.")
SETTINGS = EvolutionSettings(optimizer="gradient", steps=4, seed=5, select_every=2)


@dataclass
class Setup:
    target: Target
    start: torch.Tensor
    spread: torch.Tensor
    held_out: Callable[[torch.Tensor], float]


@pytest.fixture(scope="module")
def setup(onnx_synthesizer, kokoro_assets, stock_voice: Callable) -> Setup:
    """Target em_santa, start em_alex (CAM++ 0.70 apart: the case the walk barely moved)."""
    target = Target.from_audio(onnx_synthesizer.synthesize(REFERENCE, stock_voice("em_santa")), 24_000)

    def held_out(voice: torch.Tensor) -> float:
        renderings = [onnx_synthesizer.synthesize(text, voice) for text in HELD_OUT]
        return float(np.mean([cosine(campp_embedding(audio, 24_000), target.campp) for audio in renderings]))

    spread = population_std(list(stock_voices(kokoro_assets).values()))
    return Setup(target, stock_voice("em_alex"), spread, held_out)


def search(setup: Setup, synthesizer, onnx, checkpoint: Path, steps: int, **kwargs: object) -> WalkState:
    events: list[StepEvent] = []
    state = GradientSearch(
        synthesizer=synthesizer,
        render=each(onnx.synthesize),
        target=setup.target,
        start=setup.start,
        origin="em_alex",
        spread=setup.spread,
        settings=SETTINGS,
        checkpoint=checkpoint,
        steps=steps,
        on_step=events.append,
    ).run(**kwargs)
    state.events = events  # for the assertions below
    return state


@pytest.fixture(scope="module")
def uninterrupted(setup, torch_synthesizer, onnx_synthesizer, tmp_path_factory) -> WalkState:
    return search(setup, torch_synthesizer, onnx_synthesizer, tmp_path_factory.mktemp("gradient") / "n.ckpt", 4)


def test_a_few_gradient_steps_move_the_voice_towards_the_target(setup: Setup, uninterrupted: WalkState) -> None:
    assert [e.step for e in uninterrupted.events] == [1, 2, 3, 4]
    assert uninterrupted.optimizer == "gradient" and torch.equal(uninterrupted.start, setup.start)
    assert not torch.equal(uninterrupted.best, setup.start)  # a selection step found a better voice
    assert uninterrupted.best_score.score > uninterrupted.start_score
    # Judged by CAM++ on phrases neither trained on nor selected on.
    assert setup.held_out(uninterrupted.best) > setup.held_out(setup.start) + 0.02
    # Only the shared offset moved: every row moved by the same multiple of the spread.
    offset = (uninterrupted.best - setup.start) / setup.spread
    assert torch.allclose(offset, offset[0:1].expand_as(offset), atol=1e-4)


def test_resuming_a_gradient_search_equals_an_uninterrupted_one(
    setup, torch_synthesizer, onnx_synthesizer, uninterrupted: WalkState, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "killed.ckpt"
    search(setup, torch_synthesizer, onnx_synthesizer, checkpoint, 2)  # "killed" after step 2
    assert WalkState.load(checkpoint).step == 2
    resumed = search(setup, torch_synthesizer, onnx_synthesizer, checkpoint, 4, resume=True)
    assert [e.step for e in resumed.events] == [3, 4]
    assert torch.equal(resumed.best, uninterrupted.best)

    def strip(history: list[dict]) -> list[dict]:
        return [{k: v for k, v in h.items() if k != "elapsed"} for h in history]

    assert strip(resumed.history) == strip(uninterrupted.history)
