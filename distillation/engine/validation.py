"""Stage 3: does each evolved voice sound like its reference, consistently, and distinct?

Held-out phrases (never rendered during evolution) are spoken with each style's
voice and judged against the seed's thresholds: speaker similarity to the style's
reference ≥ 0.70, self-consistency across the phrases ≥ 0.85, every rendering at
least 1 s long, and across styles a coefficient of variation of the prosody
features above 5 % (the styles must not all sound alike). The report lists every
number, threshold and verdict, and the audio files it judged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from itertools import combinations
from pathlib import Path

import numpy as np
import torch

from distillation.engine.audio import write_wav
from distillation.engine.config import Thresholds
from distillation.engine.files import atomic_path
from distillation.engine.prosody import analyze_prosody
from distillation.engine.scoring import Target, cosine, speaker_embedding

SAMPLE_RATE = 24_000
# Call-center phrases of every style's kind, none of them in the corpus or the scorer's texts.
HELD_OUT_PHRASES = (
    "Le llamamos para confirmar su cita del próximo martes a las diez.",
    "Siento mucho las molestias; ya hemos enviado a un técnico a su domicilio.",
    "Para continuar, indíquenos el número de contrato que figura en su factura.",
)
# Prosody features compared across styles (their means over the held-out phrases).
DIFFERENTIATION_FEATURES = ("pitch_mean", "pitch_std", "energy_mean_db", "speech_rate")

Speak = Callable[[str, torch.Tensor], np.ndarray]  # (text, voice) -> 24 kHz audio


def _style_report(
    style: str, voice: torch.Tensor, target: Target, speak: Speak, phrases: Sequence[str],
    thresholds: Thresholds, out_dir: Path,
) -> dict:
    renderings, files = [], []
    for number, phrase in enumerate(phrases, start=1):
        audio = speak(phrase, voice)
        path = out_dir / style / f"phrase_{number}.wav"
        write_wav(path, audio, SAMPLE_RATE)
        renderings.append(audio)
        files.append(str(path))
    embeddings = [speaker_embedding(audio, SAMPLE_RATE) for audio in renderings]
    similarity = float(np.mean([cosine(e, target.embedding) for e in embeddings]))
    consistency = float(np.mean([cosine(a, b) for a, b in combinations(embeddings, 2)]))
    shortest = min(len(audio) for audio in renderings) / SAMPLE_RATE
    prosody = [analyze_prosody(audio, SAMPLE_RATE, text=phrase).as_dict() for audio, phrase in zip(renderings, phrases)]
    checks = {
        "speaker_similarity": _check(similarity, thresholds.speaker_similarity),
        "self_similarity": _check(consistency, thresholds.self_similarity),
        "min_audio_seconds": _check(shortest, thresholds.min_audio_seconds),
    }
    return {
        "checks": checks,
        "prosody": {key: _mean([p[key] for p in prosody]) for key in prosody[0]},
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
    phrases: Sequence[str] = HELD_OUT_PHRASES,
) -> dict:
    """Judge every style's voice; writes the renderings under ``out_dir`` and returns the report."""
    styles = {
        style: _style_report(style, voice, targets[style], speak, phrases, thresholds, out_dir)
        for style, voice in voices.items()
    }
    cov = differentiation({style: report["prosody"] for style, report in styles.items()})
    distinct = max(cov.values(), default=0.0)
    across = {
        "coefficient_of_variation": cov,
        "value": distinct,
        "threshold": thresholds.style_differentiation_cov,
        # One style has nothing to differ from: the check does not apply.
        "passed": len(styles) < 2 or distinct > thresholds.style_differentiation_cov,
    }
    return {
        "styles": styles,
        "differentiation": across,
        "passed": all(s["passed"] for s in styles.values()) and across["passed"],
    }


def write_report(report: dict, path: Path) -> None:
    with atomic_path(path) as temp:
        temp.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
