"""The gradient search on the real model: a few steps move a voice towards a stock-voice target
(judged on phrases it never trained on), and a resumed search equals an uninterrupted one."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from voicelab.engine.config import EvolutionSettings
from voicelab.engine.evolution import StepEvent, WalkState
from voicelab.engine.gradient import GradientSearch, resume_offsets
from voicelab.engine.judges import campp_embedding
from voicelab.engine.scoring import Score, Target, cosine, each
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


def search(
    setup: Setup,
    synthesizer,
    onnx,
    checkpoint: Path,
    steps: int,
    starts: dict | None = None,
    on_step: Callable[[StepEvent], None] = lambda event: None,
    **kwargs: object,
) -> WalkState:
    events: list[StepEvent] = []

    def step(event: StepEvent) -> None:
        events.append(event)
        on_step(event)

    state = GradientSearch(
        synthesizer=synthesizer,
        render=each(onnx.synthesize),
        target=setup.target,
        starts=starts or {"em_alex": setup.start},
        spread=setup.spread,
        settings=SETTINGS,
        checkpoint=checkpoint,
        steps=steps,
        on_step=step,
    ).run(**kwargs)
    state.events = events  # for the assertions below
    return state


@pytest.fixture(scope="module")
def uninterrupted(setup, torch_synthesizer, onnx_synthesizer, tmp_path_factory) -> WalkState:
    """Four steps in one go; ``killed_after_2`` is its checkpoint as step 2 left it, exactly what
    a search killed after step 2 leaves (the step events come before each step's checkpoint)."""
    folder = tmp_path_factory.mktemp("gradient")

    def keep_step_2(event: StepEvent) -> None:
        if event.step == 3:
            shutil.copy(folder / "n.ckpt", folder / "killed_after_2.ckpt")

    state = search(setup, torch_synthesizer, onnx_synthesizer, folder / "n.ckpt", 4, on_step=keep_step_2)
    state.killed_after_2 = folder / "killed_after_2.ckpt"
    return state


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
    shutil.copy(uninterrupted.killed_after_2, checkpoint)
    assert WalkState.load(checkpoint).step == 2
    resumed = search(setup, torch_synthesizer, onnx_synthesizer, checkpoint, 4, resume=True)
    assert [e.step for e in resumed.events] == [3, 4]
    assert torch.equal(resumed.best, uninterrupted.best)

    def strip(history: list[dict]) -> list[dict]:
        return [{k: v for k, v in h.items() if k != "elapsed"} for h in history]

    assert strip(resumed.history) == strip(uninterrupted.history)


def test_starts_searched_side_by_side_each_train_their_own_offset(
    setup: Setup, torch_synthesizer, onnx_synthesizer, stock_voice: Callable, tmp_path: Path
) -> None:
    """What a GPU does by default (one batched forward for every start), here with two, one step."""
    starts = {"em_alex": setup.start, "ef_dora": stock_voice("ef_dora")}
    state = search(setup, torch_synthesizer, onnx_synthesizer, tmp_path / "side_by_side.ckpt", 1, starts=starts)
    offsets = state.search["offsets"]
    assert offsets.shape == (2, 256) and state.search["origins"] == ["em_alex", "ef_dora"]
    assert offsets.abs().sum(dim=1).min() > 0 and not torch.allclose(offsets[0], offsets[1])
    assert state.origin in starts and torch.equal(state.start, starts[state.origin])
    offset = (state.best - state.start) / setup.spread  # the best is its own start plus an offset
    assert torch.allclose(offset, offset[0:1].expand_as(offset), atol=1e-4)
    assert WalkState.load(tmp_path / "side_by_side.ckpt").search["origins"] == ["em_alex", "ef_dora"]


def test_a_checkpoint_from_before_side_by_side_searches_resumes() -> None:
    """A checkpoint holding one ``offset`` and its Adam state becomes a batch of one."""
    offset = torch.zeros(256, requires_grad=True)
    adam = torch.optim.Adam([offset], lr=0.1)
    offset.sum().backward()
    adam.step()
    start = torch.randn(510, 1, 256)
    state = WalkState(
        step=1,
        best=start,
        best_score=Score(1.0, 0.5, 0.5, 0.5),
        origin="em_alex",
        start_score=1.0,
        seed=1,
        rng_state=torch.Generator().get_state(),
        start=start,
        optimizer="gradient",
        search={"offset": offset.detach().clone(), "adam": adam.state_dict()},
    )
    param, origins = resume_offsets(state, torch.ones(510, 1, 256))
    assert origins == ["em_alex"] and param.offsets.shape == (1, 256)
    assert torch.equal(param.voices()[0], start + offset.detach())
    resumed = torch.optim.Adam([param.offsets], lr=0.1)
    resumed.load_state_dict(state.search["adam"])
    param.offsets.sum().backward()
    resumed.step()  # the moments fit the batched offsets
    assert torch.allclose(param.offsets, torch.full((1, 256), -0.2), atol=1e-3)
