"""Stage 1: the reference audio of a style, from the annotators' validated recordings.

For each style the best takes (by quality score) are trimmed of edge silence,
resampled to Kokoro's 24 kHz, joined with short pauses until there are 20-30 s of
speech, and loudness-normalized to -23 LUFS (EBU R128, pyloudnorm). The transcript
is saved beside the WAV: the scorer renders it with each candidate voice. Where each
sentence lies in the audio is saved too (``target.json``), so a sentence of the
reference can be set against a candidate's rendering of the same text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyloudnorm

from voicelab.engine.audio import read_audio, resample, write_wav
from voicelab.engine.errors import EngineError
from voicelab.engine.files import atomic_path
from voicelab.engine.messages import Message
from voicelab.engine.prosody import speech_frames

SAMPLE_RATE = 24_000  # Kokoro's
TARGET_LUFS = -23.0
MIN_SECONDS, MAX_SECONDS = 20.0, 30.0
MIN_CLIP_SECONDS = 5.0  # a single recording as the target: speaker encoders need a few seconds
PAUSE_SECONDS = 0.4  # a breath between sentences, as a speaker would leave
PEAK_LIMIT = 0.98  # normalizing a quiet take up must not clip it


class NotEnoughMaterial(EngineError):
    """Too few validated seconds for a style; the message says how many more are needed."""


@dataclass(frozen=True)
class Clip:
    """One validated take: its audio, what it says, and how good it is (0-1)."""

    samples: np.ndarray
    sample_rate: int
    text: str
    quality: float


@dataclass(frozen=True)
class Segment:
    """One sentence of the reference and where it lies in the audio, in seconds."""

    text: str
    start: float
    end: float


@dataclass(frozen=True, eq=False)
class Reference:
    """Stage 1's output for one style: the audio (24 kHz, -23 LUFS) and its sentences."""

    audio: np.ndarray
    segments: tuple[Segment, ...]

    @property
    def transcript(self) -> str:
        return " ".join(segment.text for segment in self.segments)

    def excerpt(self, index: int = 0) -> np.ndarray:
        segment = self.segments[index]
        return self.audio[round(segment.start * SAMPLE_RATE) : round(segment.end * SAMPLE_RATE)]


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
        Message(
            "Only {total:.1f} s of validated speech (from {chosen} of {takes} takes); "
            "the reference needs {needed:.0f} s: {missing:.1f} s more.",
            {
                "total": total,
                "chosen": len(chosen),
                "takes": len(clips),
                "needed": min_seconds,
                "missing": min_seconds - total,
            },
        )
    )


def build_reference(
    clips: Sequence[Clip], *, min_seconds: float = MIN_SECONDS, max_seconds: float = MAX_SECONDS
) -> Reference:
    """The reference of the best clips: 20-30 s of speech, 24 kHz, -23 LUFS."""
    return join(select(clips, min_seconds=min_seconds, max_seconds=max_seconds))


def join(chosen: Sequence[tuple[Clip, np.ndarray]]) -> Reference:
    """Chosen clips' speech joined with pauses and normalized, with where each one lies."""
    pause = np.zeros(round(PAUSE_SECONDS * SAMPLE_RATE), dtype=np.float32)
    pieces = [piece for _, speech in chosen for piece in (pause, speech)][1:]
    segments, start = [], 0
    for clip, speech in chosen:
        segments.append(Segment(clip.text.strip(), start / SAMPLE_RATE, (start + len(speech)) / SAMPLE_RATE))
        start += len(speech) + len(pause)
    return Reference(normalize_loudness(np.concatenate(pieces)), tuple(segments))


def clip_reference(samples: np.ndarray, sample_rate: int, *, min_seconds: float = MIN_CLIP_SECONDS) -> Reference:
    """One recording of the speaker as the reference, with no transcript and no labeled takes:
    its speech without the edge silence, at 24 kHz and -23 LUFS."""
    speech = _speech(Clip(samples, sample_rate, "", 1.0))
    seconds = len(speech) / SAMPLE_RATE
    if seconds < min_seconds:
        raise NotEnoughMaterial(
            Message(
                "The clip holds {seconds:.1f} s of speech; a voice needs at least {needed:.0f} s of it.",
                {"seconds": seconds, "needed": min_seconds},
            )
        )
    return Reference(normalize_loudness(speech), ())


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


def write_reference(reference: Reference, path: Path, *, speech_rate: float | None = None) -> None:
    """``target.wav`` and, beside it, ``target.txt`` (the transcript) and ``target.json``
    (the sentences' spans, and the speech rate when measured), each written atomically."""
    write_wav(path, reference.audio, SAMPLE_RATE)
    with atomic_path(path.with_suffix(".txt")) as temp:
        temp.write_text(reference.transcript + "\n", encoding="utf-8")
    spans = [{"text": s.text, "start": round(s.start, 4), "end": round(s.end, 4)} for s in reference.segments]
    with atomic_path(path.with_suffix(".json")) as temp:
        sidecar = {"segments": spans} | ({"speech_rate": speech_rate} if speech_rate else {})
        temp.write_text(json.dumps(sidecar, ensure_ascii=False, indent=1), encoding="utf-8")


def read_reference(path: Path) -> Reference:
    """A reference as ``write_reference`` left it (spans empty if written without them)."""
    return Reference(read_audio(path).samples, read_segments(path))


def _sidecar(path: Path) -> dict:
    sidecar = path.with_suffix(".json")
    return json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else {}


def read_segments(path: Path) -> tuple[Segment, ...]:
    """The sentence spans written beside ``path`` (none for a reference written without them)."""
    return tuple(Segment(**span) for span in _sidecar(path).get("segments", ()))


def read_speech_rate(path: Path) -> float | None:
    """The speech rate written beside ``path`` (None: not measured, or no reference)."""
    return _sidecar(path).get("speech_rate")
