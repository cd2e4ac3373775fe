"""Stage 1 from a teacher: F5-TTS clones the source voice, sentence by sentence, per style.

Two teachers behind one interface:

- ``HttpTeacher``: a TTS server (the seed's ``--tts-url``) answering
  ``POST /synthesize`` JSON ``{text, speed}`` with a WAV — the same API as Voice Lab's
  own TTS service;
- ``F5Teacher``: the ``f5-tts`` package in this process (an optional extra for GPU
  machines), always from local checkpoint and vocoder files: never a hub download.

The style's sentences are spoken at its F5 speed (neutral 1.0, amable 0.95,
empático 0.90, profesional 1.05) and joined and normalized as recordings are.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import httpx
import numpy as np
import soundfile as sf

from distillation.engine.config import get_style
from distillation.engine.reference import Clip, NotEnoughMaterial, join, trimmed

SENTENCES_PER_STYLE = 5
HTTP_TIMEOUT_SECONDS = 300.0  # a CPU teacher takes minutes per sentence


class TeacherError(RuntimeError):
    """A teacher that cannot speak; the message says what is missing or what it answered."""


class Teacher(Protocol):
    def speak(self, text: str, *, speed: float) -> tuple[np.ndarray, int]:
        """Audio (mono float32) and its sample rate."""


class HttpTeacher:
    def __init__(self, url: str, *, timeout: float = HTTP_TIMEOUT_SECONDS) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def speak(self, text: str, *, speed: float) -> tuple[np.ndarray, int]:
        try:
            response = httpx.post(f"{self.url}/synthesize", json={"text": text, "speed": speed}, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise TeacherError(f"The teacher at {self.url} could not be reached: {exc}") from None
        if response.status_code != 200:
            raise TeacherError(f"The teacher at {self.url} answered {response.status_code}: {response.text[:200]}")
        try:
            audio, rate = sf.read(io.BytesIO(response.content), dtype="float32", always_2d=True)
        except sf.SoundFileError:
            raise TeacherError(f"The teacher at {self.url} did not answer with audio.") from None
        return audio.mean(axis=1), rate


class F5Teacher:
    """F5-TTS in process; ``reference_audio`` + ``reference_text`` are the voice to clone.

    The transcript is required: without it f5-tts would download whisper to make one.
    """

    def __init__(
        self, *, checkpoint: Path, vocoder: Path, reference_audio: Path, reference_text: str, device: str | None = None
    ) -> None:
        for label, path in (("checkpoint", checkpoint), ("vocoder", vocoder), ("reference audio", reference_audio)):
            if not Path(path).exists():
                raise TeacherError(f"The F5-TTS {label} {path} does not exist.")
        if not reference_text.strip():
            raise TeacherError("The reference audio's transcript is required (--reference-text).")
        try:
            from f5_tts.api import F5TTS
        except ImportError:
            raise TeacherError(
                "f5-tts is not installed: it is an optional extra for GPU machines (pip install f5-tts), "
                "or use --tts-url with a teacher server."
            ) from None
        self._model = F5TTS(ckpt_file=str(checkpoint), vocoder_local_path=str(vocoder), device=device)
        self.reference_audio, self.reference_text = reference_audio, reference_text

    def speak(self, text: str, *, speed: float) -> tuple[np.ndarray, int]:
        audio, rate, _ = self._model.infer(
            ref_file=str(self.reference_audio), ref_text=self.reference_text, gen_text=text, speed=speed
        )
        return np.asarray(audio, dtype=np.float32), rate


def teacher_reference(teacher: Teacher, style: str, sentences: Sequence[str]) -> tuple[np.ndarray, str]:
    """The style's reference: ``SENTENCES_PER_STYLE`` sentences at the style's F5 speed."""
    speed = get_style(style).f5_speed
    chosen = list(sentences)[:SENTENCES_PER_STYLE]
    if not chosen:
        raise NotEnoughMaterial("no sentences for the teacher to speak.")
    clips = [Clip(*teacher.speak(text, speed=speed), text=text, quality=1.0) for text in chosen]
    spoken = trimmed(clips)
    if not spoken:
        raise TeacherError(f"The teacher's audio for {style} is silent.")
    return join(spoken)
