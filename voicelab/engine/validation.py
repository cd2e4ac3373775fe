"""Stage 3: does each evolved voice sound like its reference, consistently, and distinct?

Each style's held-out phrases (of its own kind, never rendered during evolution) are
spoken with its voice and judged against the seed's thresholds: speaker similarity to
the style's reference ≥ 0.70, self-consistency across the phrases ≥ 0.85, every
rendering at least 1 s long. Across styles, the coefficient of variation of the prosody
features must be above 5 % (the styles must not all sound alike); that comparison uses
phrases every style speaks, so a difference in text cannot pass for a difference in
voice. The report lists every number, threshold and verdict, and the audio files it judged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import torch

from voicelab.engine.audio import write_wav
from voicelab.engine.config import STYLES, Thresholds
from voicelab.engine.files import atomic_path
from voicelab.engine.prosody import analyze_prosody
from voicelab.engine.scoring import Target, cosine, speaker_embedding

SAMPLE_RATE = 24_000
# Spoken by every style for the differentiation check; in neither the corpus nor the scorer's texts.
COMMON_PHRASES = (
    "Le paso con el departamento correspondiente en un momento.",
    "Hemos recibido su consulta y le responderemos por correo.",
)
# Prosody features compared across styles (their means over the held-out phrases).
DIFFERENTIATION_FEATURES = ("pitch_mean", "pitch_std", "energy_mean_db", "speech_rate")

Speak = Callable[[str, torch.Tensor], np.ndarray]  # (text, voice) -> 24 kHz audio


def held_out_phrases(styles: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Each style's own held-out phrases (``StyleSpec.held_out``)."""
    return {style: STYLES[style].held_out for style in styles}


class _Renderer:
    """Renders each (style, phrase) once, written to ``out_dir/style/<name>.wav``."""

    def __init__(self, speak: Speak, out_dir: Path) -> None:
        self.speak, self.out_dir = speak, out_dir
        self.done: dict[tuple[str, str], tuple[np.ndarray, str]] = {}

    def __call__(
        self, style: str, voice: torch.Tensor, phrases: Sequence[str], prefix: str
    ) -> tuple[list[np.ndarray], list[str]]:
        for number, phrase in enumerate(phrases, start=1):
            if (style, phrase) not in self.done:
                audio = self.speak(phrase, voice)
                path = self.out_dir / style / f"{prefix}_{number}.wav"
                write_wav(path, audio, SAMPLE_RATE)
                self.done[style, phrase] = (audio, str(path))
        rendered = [self.done[style, phrase] for phrase in phrases]
        return [audio for audio, _ in rendered], [path for _, path in rendered]


def _prosody(renderings: Sequence[np.ndarray], phrases: Sequence[str]) -> dict[str, float | None]:
    """Mean prosody features over the renderings."""
    measured = [
        analyze_prosody(audio, SAMPLE_RATE, text=phrase).as_dict()
        for audio, phrase in zip(renderings, phrases, strict=True)
    ]
    return {key: _mean([m[key] for m in measured]) for key in measured[0]}


@dataclass(frozen=True)
class Check:
    """One measured value against its pass mark (``value >= threshold`` passes)."""

    value: float
    threshold: float

    @property
    def passed(self) -> bool:
        return self.value >= self.threshold

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "threshold": self.threshold, "passed": self.passed}

    @classmethod
    def measured(cls, value: float, threshold: float) -> Check:
        return cls(round(value, 4), threshold)


@dataclass(frozen=True)
class Listening:
    """An A/B pair: the reference's first sentence and the voice saying it (WAV paths)."""

    text: str
    target: str
    evolved: str


@dataclass(frozen=True)
class StyleVerdict:
    """One style's voice on its held-out phrases."""

    checks: dict[str, Check]
    prosody: dict[str, float | None]
    phrases: list[str]
    audio: list[str]  # the renderings judged, one per phrase
    listening: Listening | None = None

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "checks": {name: check.as_dict() for name, check in self.checks.items()},
            "prosody": self.prosody,
            "phrases": self.phrases,
            "audio": self.audio,
            "listening": asdict(self.listening) if self.listening else None,
            "passed": self.passed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StyleVerdict:
        listening = data.get("listening")
        return cls(
            checks={name: Check(c["value"], c["threshold"]) for name, c in data["checks"].items()},
            prosody=dict(data["prosody"]),
            phrases=list(data["phrases"]),
            audio=list(data["audio"]),
            listening=Listening(**listening) if listening else None,
        )


@dataclass(frozen=True)
class Differentiation:
    """Across styles, on phrases every style speaks: do the voices differ in prosody?
    ``applies`` is False for a single style, which has nothing to differ from."""

    phrases: list[str]
    prosody: dict[str, dict[str, float | None]]
    audio: dict[str, list[str]]
    coefficient_of_variation: dict[str, float]
    threshold: float
    applies: bool = True

    @property
    def value(self) -> float:
        return max(self.coefficient_of_variation.values(), default=0.0)

    @property
    def passed(self) -> bool:
        return not self.applies or self.value > self.threshold

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "value": self.value, "passed": self.passed}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Differentiation:
        return cls(
            phrases=list(data["phrases"]),
            prosody={style: dict(p) for style, p in data["prosody"].items()},
            audio={style: list(files) for style, files in data["audio"].items()},
            coefficient_of_variation=dict(data["coefficient_of_variation"]),
            threshold=data["threshold"],
            applies=data.get("applies", bool(data["prosody"])),
        )


@dataclass(frozen=True)
class ValidationReport:
    """Stage 3's verdict: every number, threshold and verdict, and the audio it judged.
    The run's database row and ``validation_report.json`` are both ``as_dict()`` of it."""

    styles: dict[str, StyleVerdict]
    differentiation: Differentiation

    @property
    def passed(self) -> bool:
        return all(verdict.passed for verdict in self.styles.values()) and self.differentiation.passed

    def as_dict(self) -> dict[str, Any]:
        return {
            "styles": {style: verdict.as_dict() for style, verdict in self.styles.items()},
            "differentiation": self.differentiation.as_dict(),
            "passed": self.passed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ValidationReport:
        return cls(
            styles={style: StyleVerdict.from_dict(verdict) for style, verdict in data["styles"].items()},
            differentiation=Differentiation.from_dict(data["differentiation"]),
        )

    def write(self, path: Path) -> None:
        with atomic_path(path) as temp:
            temp.write_text(json.dumps(self.as_dict(), indent=2, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> ValidationReport:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))


def _style_verdict(
    style: str,
    voice: torch.Tensor,
    target: Target,
    render: _Renderer,
    phrases: Sequence[str],
    thresholds: Thresholds,
    listening: Listening | None,
) -> StyleVerdict:
    renderings, files = render(style, voice, phrases, "phrase")
    embeddings = [speaker_embedding(audio, SAMPLE_RATE) for audio in renderings]
    similarity = float(np.mean([cosine(e, target.embedding) for e in embeddings]))
    consistency = float(np.mean([cosine(a, b) for a, b in combinations(embeddings, 2)]))
    shortest = min(len(audio) for audio in renderings) / SAMPLE_RATE
    return StyleVerdict(
        checks={
            "speaker_similarity": Check.measured(similarity, thresholds.speaker_similarity),
            "self_similarity": Check.measured(consistency, thresholds.self_similarity),
            "min_audio_seconds": Check.measured(shortest, thresholds.min_audio_seconds),
        },
        prosody=_prosody(renderings, phrases),
        phrases=list(phrases),
        audio=files,
        listening=listening,
    )


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def differentiation(prosody: Mapping[str, Mapping[str, float | None]]) -> dict[str, float]:
    """Coefficient of variation (std / |mean|) of each prosody feature across the styles."""
    result = {}
    for feature in DIFFERENTIATION_FEATURES:
        values = [p[feature] for p in prosody.values() if p.get(feature) is not None]
        if len(values) >= 2 and np.mean(values) != 0:
            result[feature] = round(float(np.std(values) / abs(np.mean(values))), 4)
    return result


def validate(
    *,
    voices: Mapping[str, torch.Tensor],
    targets: Mapping[str, Target],
    speak: Speak,
    thresholds: Thresholds = Thresholds(),
    out_dir: Path,
    phrases: Mapping[str, Sequence[str]] | None = None,
    common_phrases: Sequence[str] = COMMON_PHRASES,
    listening: Mapping[str, Listening | None] | None = None,
) -> ValidationReport:
    """Judge every style's voice; writes the renderings under ``out_dir``.

    ``phrases`` maps each style to its held-out phrases (default: the style's own);
    ``listening``, each style to the A/B pair its report offers.
    """
    phrases = phrases or held_out_phrases(list(voices))
    listening = listening or {}
    render = _Renderer(speak, out_dir)
    styles = {
        style: _style_verdict(style, voice, targets[style], render, phrases[style], thresholds, listening.get(style))
        for style, voice in voices.items()
    }
    # One style has nothing to differ from: the check does not apply, nothing is rendered for it.
    compared = voices if len(voices) >= 2 else {}
    common = {style: render(style, voice, common_phrases, "common") for style, voice in compared.items()}
    prosody = {style: _prosody(renderings, common_phrases) for style, (renderings, _) in common.items()}
    across = Differentiation(
        phrases=list(common_phrases),
        prosody=prosody,
        audio={style: files for style, (_, files) in common.items()},
        coefficient_of_variation=differentiation(prosody),
        threshold=thresholds.style_differentiation_cov,
        applies=bool(compared),
    )
    return ValidationReport(styles=styles, differentiation=across)
