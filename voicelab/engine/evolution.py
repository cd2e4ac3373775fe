"""Stage 2: KVoiceWalk, a random walk over a Kokoro voice tensor towards the reference.

Start from the best of the base voices and their interpolations, then at every step
mutate the best voice (``best + randn * std * diversity``, diversity ~ U(0.01, 0.15),
std = per-element std of the base voices) and keep the candidate only if it scores
higher. Deterministic for a seed: one torch generator drives the walk, and the global
torch RNG (Kokoro's decoder draws noise) is reseeded per candidate. Checkpoints hold
the best voice, the history and the generator state, so a killed run resumes exactly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import ClassVar

import torch

from voicelab.engine.config import EvolutionSettings
from voicelab.engine.files import atomic_path
from voicelab.engine.scoring import FitnessScorer, Score
from voicelab.engine.voices import interpolate, population_std


@dataclass(frozen=True)
class StepEvent:
    """What every consumer (CLI bar, Celery task, websocket) receives after each step."""

    step: int
    score: float
    target: float
    self_similarity: float
    features: float
    complete: bool  # False when early termination skipped the rest of the scoring
    accepted: bool
    best_score: float
    elapsed: float  # seconds since the run (not this process) started

    # An incompletely scored candidate was only compared with the target: these figures of
    # it are not measurements (a chart leaves them out rather than drawing them as zeros).
    UNMEASURED_WHEN_INCOMPLETE: ClassVar[frozenset[str]] = frozenset({"score", "self_similarity", "features"})

    def as_dict(self) -> dict[str, float | int | bool]:
        return asdict(self)


@dataclass
class WalkState:
    """Everything a resumed run needs; saved atomically as a checkpoint."""

    step: int
    best: torch.Tensor
    best_score: Score
    origin: str  # which base voice or interpolation the walk started from
    start_score: float
    seed: int
    rng_state: torch.Tensor
    elapsed: float = 0.0
    history: list[dict] = field(default_factory=list)

    def save(self, path: Path) -> None:
        data = {**asdict(self), "best_score": self.best_score.as_dict()}
        with atomic_path(path) as temp, open(temp, "wb") as stream:
            torch.save(data, stream)

    @classmethod
    def load(cls, path: Path) -> WalkState:
        data = torch.load(path, map_location="cpu", weights_only=True)
        return cls(**{**data, "best_score": Score(**data["best_score"])})


def starting_point(
    scorer: FitnessScorer, base_voices: Mapping[str, torch.Tensor], alphas: tuple[float, ...]
) -> tuple[torch.Tensor, Score, str]:
    """The best of the base voices and of every pair's interpolation ``(a+b)/2 + (a-b)*alpha/2``."""
    candidates: dict[str, torch.Tensor] = dict(base_voices)
    for (name_a, a), (name_b, b) in combinations(base_voices.items(), 2):
        for alpha in alphas:
            candidates[f"{name_a}~{name_b}@{alpha:+.1f}"] = interpolate(a, b, alpha)
    best_name, best_voice, best_score = "", None, None
    for name, voice in candidates.items():
        score = scorer.score(voice)
        if best_score is None or score.score > best_score.score:
            best_name, best_voice, best_score = name, voice, score
    return best_voice, best_score, best_name


class VoiceEvolver:
    """Runs the walk for one style; ``on_step`` gets a StepEvent after every step, and
    ``on_best`` the best voice whenever it changes (the start included), once checkpointed.
    ``should_stop`` is asked after every batch: True ends the walk there, checkpointed, with
    the best voice so far (an operator's cancel)."""

    def __init__(
        self,
        *,
        scorer: FitnessScorer,
        base_voices: Mapping[str, torch.Tensor],
        settings: EvolutionSettings,
        checkpoint: Path,
        on_step: Callable[[StepEvent], None] | None = None,
        on_best: Callable[[torch.Tensor], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        if not base_voices:
            raise ValueError("The walk needs at least one base voice.")
        self.scorer = scorer
        self.base_voices = dict(base_voices)
        self.settings = settings
        self.checkpoint = checkpoint
        self.on_step = on_step or (lambda event: None)
        self.on_best = on_best or (lambda voice: None)
        self.should_stop = should_stop or (lambda: False)
        self.std = population_std(list(self.base_voices.values())) if len(self.base_voices) > 1 else None

    def run(self, *, resume: bool = False) -> WalkState:
        state = self._resume() if resume and self.checkpoint.exists() else self._start()
        self.on_best(state.best)
        generator = torch.Generator().manual_seed(0)
        generator.set_state(state.rng_state)
        started = time.monotonic() - state.elapsed
        while state.step < self.settings.steps:
            size = min(self.settings.batch, self.settings.steps - state.step)
            candidates = [self._mutate(state.best, generator) for _ in range(size)]
            torch.manual_seed(state.seed + state.step + 1)  # Kokoro's decoder draws noise: fix it per batch
            scores = self.scorer.score_many(candidates, best_target=state.best_score.target)
            winner = self._winner(scores, state.best_score.score)
            first_step = state.step + 1
            for offset, (candidate, score) in enumerate(zip(candidates, scores, strict=True)):
                accepted = offset == winner
                if accepted:
                    state.best, state.best_score = candidate, score
                state.step = first_step + offset
                state.elapsed = time.monotonic() - started
                event = StepEvent(
                    step=state.step,
                    **score.as_dict(),
                    accepted=accepted,
                    best_score=state.best_score.score,
                    elapsed=state.elapsed,
                )
                state.history.append(event.as_dict())
                self.on_step(event)
            state.rng_state = generator.get_state()
            every = self.settings.checkpoint_every
            stop = self.should_stop()
            crossed = state.step // every > (first_step - 1) // every
            if winner is not None or crossed or stop or state.step == self.settings.steps:
                state.save(self.checkpoint)
            if winner is not None:
                self.on_best(state.best)
            if stop:
                break
        return state

    def _mutate(self, best: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``best + randn * std * diversity`` with diversity ~ U(low, high)."""
        low, high = self.settings.diversity
        diversity = low + (high - low) * float(torch.rand(1, generator=generator))
        return best + torch.randn(best.shape, generator=generator) * self._std(best) * diversity

    @staticmethod
    def _winner(scores: list[Score], best: float) -> int | None:
        """The batch's best candidate, if it beats the current best (all came from the same best)."""
        improving = [i for i, score in enumerate(scores) if score.complete and score.score > best]
        return max(improving, key=lambda i: scores[i].score, default=None)

    def _std(self, best: torch.Tensor) -> torch.Tensor:
        # One base voice has no population spread: fall back to the voice's own scale.
        return self.std if self.std is not None else best.std()

    def _start(self) -> WalkState:
        # Without a seed the run picks one, and records it: a resumed run must reuse it.
        seed = self.settings.seed if self.settings.seed is not None else int(torch.seed() % 2**31)
        generator = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        best, score, origin = starting_point(self.scorer, self.base_voices, self.settings.interpolation_alphas)
        state = WalkState(
            step=0,
            best=best,
            best_score=score,
            origin=origin,
            start_score=score.score,
            seed=seed,
            rng_state=generator.get_state(),
        )
        state.save(self.checkpoint)
        return state

    def _resume(self) -> WalkState:
        return WalkState.load(self.checkpoint)
