"""The fitness scorer: how close a Kokoro voice sounds to the reference audio.

score = weighted harmonic mean of (target similarity, self-similarity, feature
similarity) x 100, i.e. ``sum(w) / sum(w_i / v_i) * 100`` with the seed's weights
0.48 / 0.50 / 0.02. A harmonic mean punishes the weakest term: a voice that matches
the target on one text but falls apart on another scores low.

Speaker embeddings come from resemblyzer (its weights ship in the wheel). The
target's embedding and features are computed once per run, from the whole
reference; embeddings do not depend on the text, so candidates may render short texts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import cache

import librosa
import numpy as np
import torch

from voicelab.engine.audio import resample
from voicelab.engine.config import ScoringWeights
from voicelab.engine.judges import campp_embedding
from voicelab.engine.prosody import analyze_prosody

ENCODER_SAMPLE_RATE = 16_000  # resemblyzer's
FEATURE_SAMPLE_RATE = 16_000  # features are compared at one rate whatever the source
N_MFCC = 13

RenderMany = Callable[[str, list[torch.Tensor]], list[np.ndarray]]  # (text, voices) -> 24 kHz audio each


def each(synthesize: Callable[[str, torch.Tensor], np.ndarray]) -> RenderMany:
    """A one-voice-at-a-time synthesizer as a ``RenderMany`` (pools render many at once)."""
    return lambda text, voices: [synthesize(text, voice) for voice in voices]


def weighted_harmonic_mean(values: Sequence[float], weights: Sequence[float]) -> float:
    """``sum(w) / sum(w_i / v_i)``; 0 when any weighted value is 0 or below (it dominates)."""
    if len(values) != len(weights):
        raise ValueError("One weight per value.")
    if any(v <= 0 for v, w in zip(values, weights, strict=True) if w > 0):
        return 0.0
    return sum(weights) / sum(w / v for v, w in zip(values, weights, strict=True) if w > 0)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


@cache
def resemblyzer_encoder() -> torch.nn.Module:  # resemblyzer has no type stubs: its VoiceEncoder
    from resemblyzer import VoiceEncoder

    return VoiceEncoder(device="cpu", verbose=False)


def speaker_embedding(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """resemblyzer's 256-d, unit-length speaker embedding of a clip.

    One torch thread: the notes measured resemblyzer collapsing with two threads
    under load, and synthesis owns the other cores.
    """
    from resemblyzer import preprocess_wav

    torch.set_num_threads(1)
    wav = preprocess_wav(np.asarray(audio, dtype=np.float32), source_sr=sample_rate)
    return resemblyzer_encoder().embed_utterance(wav)


@dataclass(frozen=True)
class Features:
    """What the feature term compares: timbre (MFCCs), brightness, pitch and level."""

    mfcc: np.ndarray  # mean over frames, without c0 (level)
    centroid: float  # Hz
    pitch: float | None  # Hz
    energy_db: float | None


def describe(audio: np.ndarray, sample_rate: int) -> Features:
    audio = resample(np.asarray(audio, dtype=np.float32), sample_rate, FEATURE_SAMPLE_RATE)
    mfcc = librosa.feature.mfcc(y=audio, sr=FEATURE_SAMPLE_RATE, n_mfcc=N_MFCC + 1)[1:].mean(axis=1)
    centroid = float(librosa.feature.spectral_centroid(y=audio, sr=FEATURE_SAMPLE_RATE).mean())
    prosody = analyze_prosody(audio, FEATURE_SAMPLE_RATE)
    return Features(mfcc, centroid, prosody.pitch_mean, prosody.energy_mean_db)


def _closeness(a: float | None, b: float | None) -> float | None:
    """``min/max`` of two positive quantities: 1 when equal, 0.5 an octave (or 2x) apart."""
    if a is None or b is None or a <= 0 or b <= 0:
        return None
    return min(a, b) / max(a, b)


def feature_similarity(candidate: Features, target: Features) -> float:
    """Mean of the MFCC cosine (mapped to 0-1), and the centroid, pitch and level closeness."""
    terms = [
        (cosine(candidate.mfcc, target.mfcc) + 1) / 2,
        _closeness(candidate.centroid, target.centroid),
        _closeness(candidate.pitch, target.pitch),
        # Levels in dB are negative; compare them as amplitudes.
        _closeness(*(10 ** (e / 20) if e is not None else None for e in (candidate.energy_db, target.energy_db))),
    ]
    present = [t for t in terms if t is not None]
    return float(np.mean(present))


@dataclass(frozen=True)
class Score:
    """One candidate's score (0-100) and its three terms; ``complete`` is False when early
    termination skipped the self and feature terms (their values are then 0)."""

    score: float
    target: float
    self_similarity: float
    features: float
    complete: bool = True

    def as_dict(self) -> dict[str, float | bool]:
        return asdict(self)


@dataclass(frozen=True)
class Target:
    """The reference audio, described once per run: its resemblyzer ``embedding`` (what the
    search climbs), its features, and its CAM++ embedding (what Stage 3 judges by)."""

    embedding: np.ndarray
    features: Features
    campp: np.ndarray

    @classmethod
    def from_audio(cls, audio: np.ndarray, sample_rate: int) -> Target:
        return cls(
            speaker_embedding(audio, sample_rate), describe(audio, sample_rate), campp_embedding(audio, sample_rate)
        )


class FitnessScorer:
    """Scores voices against one target by rendering two different texts with each.

    ``render(text, voices)`` returns 24 kHz audio per voice: a pool renders them on
    several cores at once, a GPU in one batch. Text one is compared with the target
    (speaker and features), text two with text one (self-similarity). With
    ``best_target``, a candidate whose target similarity is below
    ``early_termination_ratio`` of it stops there: it cannot win, so its second render
    and feature analysis are skipped.
    """

    def __init__(
        self,
        *,
        target: Target,
        render: RenderMany,
        texts: tuple[str, str],
        weights: ScoringWeights = ScoringWeights(),
        early_termination_ratio: float = 0.98,
        sample_rate: int = 24_000,
    ) -> None:
        if texts[0] == texts[1]:
            raise ValueError("Self-similarity needs two different texts.")
        self.target = target
        self.render = render
        self.texts = texts
        self.weights = weights
        self.early_termination_ratio = early_termination_ratio
        self.sample_rate = sample_rate

    def score(self, voice: torch.Tensor, *, best_target: float | None = None) -> Score:
        return self.score_many([voice], best_target=best_target)[0]

    def score_many(self, voices: list[torch.Tensor], *, best_target: float | None = None) -> list[Score]:
        firsts = self.render(self.texts[0], voices)
        embeddings = [speaker_embedding(audio, self.sample_rate) for audio in firsts]
        targets = [cosine(e, self.target.embedding) for e in embeddings]
        alive = [
            i
            for i, target in enumerate(targets)
            if best_target is None or target >= self.early_termination_ratio * best_target
        ]
        seconds = dict(zip(alive, self.render(self.texts[1], [voices[i] for i in alive]), strict=True)) if alive else {}
        scores = []
        for i, (first, embedding, target) in enumerate(zip(firsts, embeddings, targets, strict=True)):
            if i not in seconds:
                scores.append(Score(0.0, target, 0.0, 0.0, complete=False))
                continue
            self_similarity = cosine(embedding, speaker_embedding(seconds[i], self.sample_rate))
            features = feature_similarity(describe(first, self.sample_rate), self.target.features)
            values = (target, self_similarity, features)
            scores.append(Score(weighted_harmonic_mean(values, self.weights.as_tuple()) * 100, *values))
        return scores
