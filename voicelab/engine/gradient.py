"""Stage 2 by gradient: Adam on one offset of the voice, through Kokoro's differentiable path.

    voice = start + offset * spread

``offset`` is 256 numbers shared by all 510 rows, in units of the stock voices' per-element
spread (a move of 1 is about one typical difference between stock voices); only it is trained,
the model stays frozen. Each step renders two training phrases (rotated) with gradients, embeds
them with the objective's encoders and takes one Adam step on

    loss = -H(similarity to the reference, similarity across the two phrases, features)

with H the seed's weighted harmonic mean (the features term is a constant: not differentiable),
plus a weak prior on the offset, which is then held inside a trust region (RMS at most
``trust_radius``): far from every stock voice Kokoro stops sounding natural. Every
``select_every`` steps the voice is rendered on the selection phrases (never trained on, none
of Stage 3's) by the walk's renderer and judged by all the objective's encoders together; the
best so far is the voice kept. Never chosen by resemblyzer alone: alone, it is what overfits.

Several starts can be searched side by side, one offset each (``parallel_starts``): each
phrase is then one batched forward over all of them (Kokoro batches voices on one text), which
on a GPU costs about what one voice does; selection keeps the best voice of any of them.

Deterministic for a seed; the checkpoint holds the offset, Adam's state, the best voice and the
history, so a killed run resumes exactly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from voicelab.engine.config import EvolutionSettings, ScoringWeights
from voicelab.engine.differentiable import ENCODERS
from voicelab.engine.evolution import JUDGING_START, Phase, StepEvent, WalkState
from voicelab.engine.g2p import phonemize
from voicelab.engine.judges import campp_embedding, campp_model
from voicelab.engine.scoring import (
    RenderMany,
    Score,
    Target,
    cosine,
    describe,
    feature_similarity,
    resemblyzer_encoder,
    speaker_embedding,
    weighted_harmonic_mean,
)
from voicelab.engine.synthesis import TorchSynthesizer

SAMPLE_RATE = 24_000
# Short call-center phrases, two a step, in none of the corpus, the walk's texts or Stage 3's phrases.
TRAINING_TEXTS = (
    "Perfecto, ya lo tengo anotado.",
    "¿Me confirma su código postal, por favor?",
    "Le envío ahora mismo un mensaje con el enlace.",
    "No se preocupe, lo solucionamos enseguida.",
    "¿Hay algo más en lo que pueda ayudarle?",
    "Su pedido salió ayer del almacén.",
    "Un segundo, que compruebo la tarifa.",
    "Muchas gracias por su paciencia.",
)
SELECTION_TEXTS = ("Vamos a revisar juntos su última factura.", "Le llamo del servicio técnico.")
OBJECTIVE = ("resemblyzer", "campp")  # both encoders: on real recordings they disagree, alone each overfits
PRIOR = 0.001

Embed = Callable[[np.ndarray], np.ndarray]
JUDGES: dict[str, Embed] = {
    "resemblyzer": lambda audio: speaker_embedding(audio, SAMPLE_RATE),
    "campp": lambda audio: campp_embedding(audio, SAMPLE_RATE),
}


def _target_embeddings(target: Target) -> dict[str, np.ndarray]:
    return {"resemblyzer": target.embedding, "campp": target.campp}


@dataclass
class Offsets:
    """The trained parameters, one offset per start trained side by side, and their voices."""

    starts: torch.Tensor  # [searches, 510, 1, 256]
    spread: torch.Tensor  # [510, 1, 256]
    offsets: torch.Tensor  # [searches, 256], requires grad

    def voices(self) -> list[torch.Tensor]:
        return list(self.starts + self.offsets[:, None, None, :] * self.spread)

    def rows(self, count: int) -> list[torch.Tensor]:
        """Each search's style row for a text of ``count`` tokens."""
        return list(self.starts[:, count - 1, 0] + self.offsets * self.spread[count - 1])

    def project(self, radius: float) -> None:
        """Back inside the trust region: each offset's RMS at most ``radius``."""
        with torch.no_grad():
            rms = self.offsets.pow(2).mean(dim=1, keepdim=True).sqrt()
            self.offsets.mul_(torch.clamp(radius / rms.clamp(min=1e-12), max=1.0))


def resume_offsets(state: WalkState, spread: torch.Tensor) -> tuple[Offsets, list[str]]:
    """The offsets of a checkpoint. One written before searches ran side by side holds a single
    ``offset`` (and its Adam state) for ``state.start``: it becomes a batch of one."""
    search = state.search
    if "offsets" in search:
        return Offsets(search["starts"], spread, search["offsets"].clone().requires_grad_(True)), search["origins"]
    for moments in search.get("adam", {}).get("state", {}).values():
        moments.update({k: v[None] for k, v in moments.items() if k != "step"})
    offsets = search["offset"][None].clone().requires_grad_(True)
    return Offsets(state.start[None], spread, offsets), [state.origin]


class GradientSearch:
    """Runs the gradient search for one style from ``starts`` (names to voices, best first),
    one offset per start trained side by side in the same batched forward (a batch costs little
    more than one voice on a GPU; on a CPU one start is the default). The callbacks are the
    walk's (``VoiceEvolver``): a StepEvent per step, the best voice whenever it changes, a stop
    asked after every step (the voices are then judged on the selection phrases before the
    search ends, so a cancel keeps the best of what it reached)."""

    def __init__(
        self,
        *,
        synthesizer: TorchSynthesizer,
        render: RenderMany,
        target: Target,
        starts: Mapping[str, torch.Tensor],
        spread: torch.Tensor,
        settings: EvolutionSettings,
        checkpoint: Path,
        steps: int | None = None,
        weights: ScoringWeights = ScoringWeights(),
        texts: Sequence[str] = TRAINING_TEXTS,
        encoders: Sequence[str] = OBJECTIVE,
        on_step: Callable[[StepEvent], None] | None = None,
        on_best: Callable[[torch.Tensor], None] | None = None,
        on_phase: Callable[[Phase], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.synthesizer, self.render, self.target = synthesizer, render, target
        self.starts, self.spread = dict(starts), spread
        self.settings, self.checkpoint = settings, checkpoint
        self.steps = steps or settings.steps
        self.weights, self.texts, self.encoders = weights, tuple(texts), tuple(encoders)
        self.targets = {name: torch.from_numpy(e).float() for name, e in _target_embeddings(target).items()}
        self.on_step = on_step or (lambda event: None)
        self.on_best = on_best or (lambda voice: None)
        self.on_phase = on_phase or (lambda phase: None)
        self.should_stop = should_stop or (lambda: False)
        models = {"resemblyzer": resemblyzer_encoder, "campp": campp_model}
        for module in (synthesizer.model, *(models[name]() for name in self.encoders)):
            module.requires_grad_(False)

    def run(self, *, resume: bool = False) -> WalkState:
        state = WalkState.load(self.checkpoint) if resume and self.checkpoint.exists() else self._begin()
        self.on_best(state.best)
        param, origins = resume_offsets(state, self.spread)
        adam = torch.optim.Adam([param.offsets], lr=self.settings.learning_rate)
        if state.search.get("adam"):
            adam.load_state_dict(state.search["adam"])
        started = time.monotonic() - state.elapsed
        while state.step < self.steps:
            step = state.step + 1
            score = self._train(param, adam, step, state.seed)
            accepted = False
            stop = self.should_stop()  # a stopped search is judged where it stopped, not steps before
            if step % self.settings.select_every == 0 or step == self.steps or stop:
                voices = [voice.detach().clone() for voice in param.voices()]
                scores = self._select(voices, state.seed)
                best = max(range(len(voices)), key=lambda i: scores[i].score)
                if scores[best].score > state.best_score.score:
                    state.best, state.best_score, accepted = voices[best], scores[best], True
                    state.start, state.origin = param.starts[best].clone(), origins[best]
            state.step, state.elapsed = step, time.monotonic() - started
            state.search = {
                "offsets": param.offsets.detach().clone(),
                "adam": adam.state_dict(),
                "starts": param.starts,
                "origins": origins,
            }
            event = StepEvent(
                step=step,
                **score.as_dict(),
                accepted=accepted,
                best_score=state.best_score.score,
                elapsed=state.elapsed,
            )
            state.history.append(event.as_dict())
            self.on_step(event)
            state.save(self.checkpoint)  # a gradient step costs seconds: a checkpoint is cheap beside it
            if accepted:
                self.on_best(state.best)
            if stop:
                break
        return state

    def _begin(self) -> WalkState:
        seed = self.settings.seed if self.settings.seed is not None else int(torch.seed() % 2**31)
        names, voices = list(self.starts), list(self.starts.values())
        self.on_phase(Phase(JUDGING_START, 0, 1))
        scores = self._select(voices, seed)
        self.on_phase(Phase(JUDGING_START, 1, 1))
        best = max(range(len(voices)), key=lambda i: scores[i].score)
        state = WalkState(
            step=0,
            best=voices[best],
            best_score=scores[best],
            origin=names[best],
            start_score=scores[best].score,
            seed=seed,
            rng_state=torch.Generator().manual_seed(seed).get_state(),
            start=voices[best],
            optimizer="gradient",
            search={
                "offsets": torch.zeros(len(voices), voices[0].shape[-1]),
                "adam": {},
                "starts": torch.stack(voices),
                "origins": names,
            },
        )
        state.save(self.checkpoint)
        return state

    def _train(self, param: Offsets, adam: torch.optim.Optimizer, step: int, seed: int) -> Score:
        """One Adam step on two training phrases, every search in one batch per phrase; the
        Score of the best search before it."""
        # One thread: with more, the backward pass adds its partial sums in a varying order, and
        # Adam's normalised steps magnify the difference, so a resumed search would not be exact.
        torch.set_num_threads(1)
        torch.manual_seed(seed + step)  # Kokoro's decoder draws noise: fix it per step
        first = 2 * (step - 1) % len(self.texts)
        texts = (self.texts[first], self.texts[(first + 1) % len(self.texts)])
        embeddings: list[dict[str, torch.Tensor]] = []  # per phrase: encoder -> [searches, dim]
        features: list[float] = []
        for text in texts:
            phonemes = phonemize(text)
            count = len(self.synthesizer.token_ids(phonemes))
            audios = [a.cpu() for a in self.synthesizer.forward(phonemes, param.rows(count))]  # encoders: CPU
            embeddings.append({n: torch.stack([ENCODERS[n](a) for a in audios]) for n in self.encoders})
            features = features or [
                feature_similarity(describe(a.detach().numpy(), SAMPLE_RATE), self.target.features) for a in audios
            ]
        target = torch.stack([e[n] @ self.targets[n] for e in embeddings for n in self.encoders]).mean(dim=0)
        consistency = torch.stack([(embeddings[0][n] * embeddings[1][n]).sum(-1) for n in self.encoders]).mean(dim=0)
        harmonic = self._harmonic(target, consistency, torch.tensor(features))
        loss = -harmonic.sum() + PRIOR * param.offsets.pow(2).sum()
        adam.zero_grad()
        loss.backward()
        adam.step()
        param.project(self.settings.trust_radius)
        scores = map(self._score, zip(target.tolist(), consistency.tolist(), features, strict=True))
        return max(scores, key=lambda score: score.score)

    def _score(self, values: tuple[float, float, float]) -> Score:
        return Score(weighted_harmonic_mean(values, self.weights.as_tuple()) * 100, *values)

    def _harmonic(self, target: torch.Tensor, consistency: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        w_target, w_self, w_features = self.weights.as_tuple()
        return (w_target + w_self + w_features) / (
            w_target / target.clamp(min=1e-3)
            + w_self / consistency.clamp(min=1e-3)
            + w_features / features.clamp(min=1e-3)
        )

    def _select(self, voices: list[torch.Tensor], seed: int) -> list[Score]:
        """Each voice on the selection phrases (rendered side by side), by every objective
        encoder together."""
        torch.manual_seed(seed)
        renders = [self.render(text, voices) for text in SELECTION_TEXTS]
        targets = _target_embeddings(self.target)
        scores = []
        for audios in zip(*renders, strict=True):
            embeddings = [{name: JUDGES[name](audio) for name in self.encoders} for audio in audios]
            target = float(np.mean([cosine(e[n], targets[n]) for e in embeddings for n in self.encoders]))
            consistency = float(np.mean([cosine(embeddings[0][n], embeddings[1][n]) for n in self.encoders]))
            features = feature_similarity(describe(audios[0], SAMPLE_RATE), self.target.features)
            scores.append(self._score((target, consistency, features)))
        return scores
