"""Stage 2: KVoiceWalk, a random walk over a Kokoro voice tensor towards the reference.

Start from the best of the candidate starts (see ``start.py``), then at every step
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
from pathlib import Path
from typing import Any, ClassVar

import torch

from voicelab.engine.config import EvolutionSettings
from voicelab.engine.files import atomic_path
from voicelab.engine.messages import gettext_noop
from voicelab.engine.scoring import FitnessScorer, Score


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


# What a search does before its first step, as Phase names; the pages translate them.
DESCRIBING_STOCK = gettext_noop("describing the stock voices")
CHOOSING_START = gettext_noop("choosing a start voice")
JUDGING_START = gettext_noop("judging the start voice")
PHASE_NAMES = (DESCRIBING_STOCK, CHOOSING_START, JUDGING_START)


@dataclass(frozen=True)
class Phase:
    """What a search is doing before its first step (``done`` of ``total``), for the live page
    and the CLI: "choosing a start voice 4/12" says more than "step 0" for a minute."""

    name: str
    done: int
    total: int

    def as_dict(self) -> dict[str, str | int]:
        return asdict(self)


@dataclass
class WalkState:
    """Everything a resumed search needs, walk or gradient; saved atomically as a checkpoint.
    ``search`` holds what only the gradient has (its offset and Adam's state)."""

    step: int
    best: torch.Tensor
    best_score: Score
    origin: str  # which base voice or interpolation the walk started from
    start_score: float
    seed: int
    rng_state: torch.Tensor
    elapsed: float = 0.0
    history: list[dict] = field(default_factory=list)
    start: torch.Tensor | None = None  # the start voice (checkpoints from before it was kept: None)
    optimizer: str = "walk"
    search: dict[str, Any] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        data = {**asdict(self), "best_score": self.best_score.as_dict()}
        with atomic_path(path) as temp, open(temp, "wb") as stream:
            torch.save(data, stream)

    @classmethod
    def load(cls, path: Path) -> WalkState:
        data = torch.load(path, map_location="cpu", weights_only=True)
        return cls(**{**data, "best_score": Score(**data["best_score"])})


def ranked_starts(
    scorer: FitnessScorer,
    candidates: Mapping[str, torch.Tensor],
    *,
    batch: int = 1,
    on_phase: Callable[[Phase], None] | None = None,
) -> list[tuple[str, Score]]:
    """Every candidate's name and score, best first, ``batch`` scored at a time (a pool renders
    them side by side)."""
    names = list(candidates)
    on_phase = on_phase or (lambda phase: None)
    scored: list[tuple[str, Score]] = []
    on_phase(Phase(CHOOSING_START, 0, len(names)))
    for first in range(0, len(names), batch):
        chunk = names[first : first + batch]
        scored += zip(chunk, scorer.score_many([candidates[n] for n in chunk]), strict=True)
        on_phase(Phase(CHOOSING_START, first + len(chunk), len(names)))
    return sorted(scored, key=lambda item: -item[1].score)  # stable: ties keep the candidates' order


def starting_point(
    scorer: FitnessScorer,
    candidates: Mapping[str, torch.Tensor],
    *,
    batch: int = 1,
    on_phase: Callable[[Phase], None] | None = None,
) -> tuple[torch.Tensor, Score, str]:
    """The best-scoring candidate: its voice, score and name."""
    name, score = ranked_starts(scorer, candidates, batch=batch, on_phase=on_phase)[0]
    return candidates[name], score, name


class VoiceEvolver:
    """Runs the walk for one style from the best of ``candidates``, or on from ``after`` (a
    search that ran before it: the hybrid's gradient). ``on_step`` gets a StepEvent after every
    step, and ``on_best`` the best voice whenever it changes (the start included), once
    checkpointed; ``on_phase`` what happens before step one. ``should_stop`` is asked after
    every batch: True ends the walk there, checkpointed, with the best voice so far (an
    operator's cancel). ``spread`` is the mutation scale per element (the stock voices' std)."""

    def __init__(
        self,
        *,
        scorer: FitnessScorer,
        candidates: Mapping[str, torch.Tensor],
        spread: torch.Tensor | None,
        settings: EvolutionSettings,
        checkpoint: Path,
        after: WalkState | None = None,
        on_step: Callable[[StepEvent], None] | None = None,
        on_best: Callable[[torch.Tensor], None] | None = None,
        on_phase: Callable[[Phase], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.scorer = scorer
        self.candidates = dict(candidates)
        self.settings = settings
        self.checkpoint = checkpoint
        self.after = after
        self.on_step = on_step or (lambda event: None)
        self.on_best = on_best or (lambda voice: None)
        self.on_phase = on_phase or (lambda phase: None)
        self.should_stop = should_stop or (lambda: False)
        self.std = spread

    def run(self, *, resume: bool = False) -> WalkState:
        state = self._resume() if resume and self.checkpoint.exists() else self._start()
        state.optimizer = "walk"
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
        # Without a population spread, fall back to the voice's own scale.
        return self.std if self.std is not None else best.std()

    def _start(self) -> WalkState:
        if self.after is not None:
            return self._continue(self.after)
        if not self.candidates:
            raise ValueError("A walk that does not resume needs at least one candidate start.")
        # Without a seed the run picks one, and records it: a resumed run must reuse it.
        seed = self.settings.seed if self.settings.seed is not None else int(torch.seed() % 2**31)
        generator = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        best, score, origin = starting_point(
            self.scorer, self.candidates, batch=self.settings.batch, on_phase=self.on_phase
        )
        state = WalkState(
            step=0,
            best=best,
            best_score=score,
            origin=origin,
            start_score=score.score,
            seed=seed,
            rng_state=generator.get_state(),
            start=best,
        )
        state.save(self.checkpoint)
        return state

    def _continue(self, before: WalkState) -> WalkState:
        """The walk after another search: its best voice is scored by the walk's own scorer (the
        scores are not comparable across searches) and walked on from its step."""
        torch.manual_seed(before.seed + before.step)
        score = self.scorer.score(before.best)
        generator = torch.Generator().manual_seed(before.seed + before.step)
        state = WalkState(
            step=before.step,
            best=before.best,
            best_score=score,
            origin=before.origin,
            start_score=before.start_score,
            seed=before.seed,
            rng_state=generator.get_state(),
            elapsed=before.elapsed,
            history=list(before.history),
            start=before.start,
        )
        state.save(self.checkpoint)
        return state

    def _resume(self) -> WalkState:
        return WalkState.load(self.checkpoint)
