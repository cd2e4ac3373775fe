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
from itertools import combinations
from pathlib import Path

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


def _style_report(
    style: str,
    voice: torch.Tensor,
    target: Target,
    render: _Renderer,
    phrases: Sequence[str],
    thresholds: Thresholds,
) -> dict:
    renderings, files = render(style, voice, phrases, "phrase")
    embeddings = [speaker_embedding(audio, SAMPLE_RATE) for audio in renderings]
    similarity = float(np.mean([cosine(e, target.embedding) for e in embeddings]))
    consistency = float(np.mean([cosine(a, b) for a, b in combinations(embeddings, 2)]))
    shortest = min(len(audio) for audio in renderings) / SAMPLE_RATE
    checks = {
        "speaker_similarity": _check(similarity, thresholds.speaker_similarity),
        "self_similarity": _check(consistency, thresholds.self_similarity),
        "min_audio_seconds": _check(shortest, thresholds.min_audio_seconds),
    }
    return {
        "checks": checks,
        "prosody": _prosody(renderings, phrases),
        "phrases": list(phrases),
        "audio": files,
        "passed": all(check["passed"] for check in checks.values()),
    }


def _check(value: float, threshold: float) -> dict:
    return {"value": round(value, 4), "threshold": threshold, "passed": value >= threshold}


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
) -> dict:
    """Judge every style's voice; writes the renderings under ``out_dir`` and returns the report.

    ``phrases`` maps each style to its held-out phrases (default: the style's own).
    """
    phrases = phrases or held_out_phrases(list(voices))
    render = _Renderer(speak, out_dir)
    styles = {
        style: _style_report(style, voice, targets[style], render, phrases[style], thresholds)
        for style, voice in voices.items()
    }
    # One style has nothing to differ from: the check does not apply, nothing is rendered for it.
    compared = voices if len(voices) >= 2 else {}
    common = {style: render(style, voice, common_phrases, "common") for style, voice in compared.items()}
    prosody = {style: _prosody(renderings, common_phrases) for style, (renderings, _) in common.items()}
    cov = differentiation(prosody)
    distinct = max(cov.values(), default=0.0)
    across = {
        "phrases": list(common_phrases),
        "prosody": prosody,
        "audio": {style: files for style, (_, files) in common.items()},
        "coefficient_of_variation": cov,
        "value": distinct,
        "threshold": thresholds.style_differentiation_cov,
        "passed": not compared or distinct > thresholds.style_differentiation_cov,
    }
    return {
        "styles": styles,
        "differentiation": across,
        "passed": all(s["passed"] for s in styles.values()) and across["passed"],
    }


def write_report(report: dict, path: Path) -> None:
    with atomic_path(path) as temp:
        temp.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
