"""Stage 1: the reference audio of a style, from the annotators' validated recordings.

For each style the best takes (by quality score) are trimmed of edge silence,
resampled to Kokoro's 24 kHz, joined with short pauses until there are 20-30 s of
speech, and loudness-normalized to -23 LUFS (EBU R128, pyloudnorm). The transcript
is saved beside the WAV: the scorer renders it with each candidate voice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyloudnorm

from distillation.engine.audio import resample, write_wav
from distillation.engine.files import atomic_path
from distillation.engine.prosody import speech_frames

SAMPLE_RATE = 24_000  # Kokoro's
TARGET_LUFS = -23.0
MIN_SECONDS, MAX_SECONDS = 20.0, 30.0
PAUSE_SECONDS = 0.4  # a breath between sentences, as a speaker would leave
PEAK_LIMIT = 0.98  # normalizing a quiet take up must not clip it


class NotEnoughMaterial(ValueError):
    """Too few validated seconds for a style; the message says how many more are needed."""


@dataclass(frozen=True)
class Clip:
    """One validated take: its audio, what it says, and how good it is (0-1)."""

    samples: np.ndarray
    sample_rate: int
    text: str
    quality: float


def _speech(clip: Clip) -> np.ndarray:
    """The clip at 24 kHz without its leading and trailing silence."""
    audio = resample(np.asarray(clip.samples, dtype=np.float32), clip.sample_rate, SAMPLE_RATE)
    span = speech_frames(audio, SAMPLE_RATE).speech_span()
    if span is None:
        return audio[:0]
    return audio[int(span[0] * SAMPLE_RATE) : int(span[1] * SAMPLE_RATE)]


def select(clips: Sequence[Clip], *, min_seconds: float, max_seconds: float) -> list[tuple[Clip, np.ndarray]]:
    """Best clips first until ``min_seconds`` of speech; a clip that would pass ``max_seconds`` is skipped."""
    chosen: list[tuple[Clip, np.ndarray]] = []
    total = 0.0
    for clip in sorted(clips, key=lambda c: c.quality, reverse=True):
        speech = _speech(clip)
        seconds = len(speech) / SAMPLE_RATE
        if not seconds or total + seconds + PAUSE_SECONDS * bool(chosen) > max_seconds:
            continue
        chosen.append((clip, speech))
        total += seconds + PAUSE_SECONDS * (len(chosen) > 1)
        if total >= min_seconds:
            return chosen
    raise NotEnoughMaterial(
        f"Only {total:.1f} s of validated speech (from {len(chosen)} of {len(clips)} takes); "
        f"the reference needs {min_seconds:.0f} s: {min_seconds - total:.1f} s more."
    )


def build_reference(
    clips: Sequence[Clip], *, min_seconds: float = MIN_SECONDS, max_seconds: float = MAX_SECONDS
) -> tuple[np.ndarray, str]:
    """The reference audio (24 kHz, -23 LUFS) and its transcript."""
    return join(select(clips, min_seconds=min_seconds, max_seconds=max_seconds))


def join(chosen: Sequence[tuple[Clip, np.ndarray]]) -> tuple[np.ndarray, str]:
    """Chosen clips' speech joined with pauses and normalized, and their joined transcript."""
    pause = np.zeros(round(PAUSE_SECONDS * SAMPLE_RATE), dtype=np.float32)
    pieces = [piece for _, speech in chosen for piece in (pause, speech)][1:]
    audio = normalize_loudness(np.concatenate(pieces))
    return audio, " ".join(clip.text.strip() for clip, _ in chosen)


def trimmed(clips: Sequence[Clip]) -> list[tuple[Clip, np.ndarray]]:
    """Every clip with its speech, in the given order (a teacher's sentences are all kept)."""
    return [(clip, speech) for clip in clips if len(speech := _speech(clip))]


def normalize_loudness(audio: np.ndarray, lufs: float = TARGET_LUFS) -> np.ndarray:
    """Integrated loudness to ``lufs``, with the peak held under ``PEAK_LIMIT``."""
    meter = pyloudnorm.Meter(SAMPLE_RATE)
    measured = meter.integrated_loudness(audio)
    if not np.isfinite(measured):
        raise NotEnoughMaterial("The selected takes are silent.")
    normalized = audio * 10 ** ((lufs - measured) / 20)
    peak = float(np.abs(normalized).max())
    return (normalized * (PEAK_LIMIT / peak if peak > PEAK_LIMIT else 1.0)).astype(np.float32)


def write_reference(audio: np.ndarray, transcript: str, path: Path) -> None:
    """``target.wav`` and, beside it, ``target.txt`` with the transcript (both atomic)."""
    write_wav(path, audio, SAMPLE_RATE)
    with atomic_path(path.with_suffix(".txt")) as temp:
        temp.write_text(transcript + "\n", encoding="utf-8")
