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

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Protocol

import httpx
import numpy as np
import soundfile as sf

from voicelab.engine.config import get_style
from voicelab.engine.errors import EngineError
from voicelab.engine.messages import gettext_noop
from voicelab.engine.reference import Clip, NotEnoughMaterial, Reference, join, trimmed

SENTENCES_PER_STYLE = 5
HTTP_TIMEOUT_SECONDS = 300.0  # a CPU teacher takes minutes per sentence


class TeacherError(EngineError):
    """A teacher that cannot speak; the message says what is missing or what it answered."""


class Teacher(Protocol):
    def speak(self, text: str, *, speed: float) -> tuple[np.ndarray, int]:
        """Audio (mono float32) and its sample rate."""


class HttpTeacher:
    """A teacher server. Given a voice to clone (``reference_audio`` + its transcript), it is
    sent with every sentence as ``ref_audio`` (base64 WAV) and ``ref_text``; without one, the
    server speaks in the voice it was started with."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = HTTP_TIMEOUT_SECONDS,
        reference_audio: Path | None = None,
        reference_text: str = "",
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.reference = {}
        if reference_audio is not None:
            self.reference = {
                "ref_audio": base64.b64encode(Path(reference_audio).read_bytes()).decode("ascii"),
                "ref_text": reference_text,
            }

    def speak(self, text: str, *, speed: float) -> tuple[np.ndarray, int]:
        body = {"text": text, "speed": speed, **self.reference}
        try:
            response = httpx.post(f"{self.url}/synthesize", json=body, timeout=self.timeout)
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

    Built from f5-tts's own loaders, from local files only: the checkpoint, the vocos
    vocoder folder (``config.yaml`` + ``pytorch_model.bin``) and, optionally, the model's
    config (default: the package's ``F5TTS_v1_Base.yaml``, what the published checkpoint is).
    The transcript is required: without it f5-tts would download whisper to make one.
    """

    MODEL = "F5TTS_v1_Base"

    def __init__(
        self,
        *,
        checkpoint: Path,
        vocoder: Path,
        reference_audio: Path,
        reference_text: str,
        config: Path | None = None,
        device: str | None = None,
    ) -> None:
        for label, path in (
            ("checkpoint", checkpoint),
            ("vocoder", vocoder),
            ("reference audio", reference_audio),
            ("model config", config),
        ):
            if path is not None and not Path(path).exists():
                raise TeacherError(f"The F5-TTS {label} {path} does not exist.")
        if not reference_text.strip():
            raise TeacherError("The reference audio's transcript is required (--reference-text).")
        try:
            from f5_tts.infer import utils_infer
            from hydra.utils import get_class
            from omegaconf import OmegaConf
        except ImportError:
            raise TeacherError(
                "f5-tts is not installed: it is an optional extra for GPU machines (pip install f5-tts), "
                "or use --tts-url with a teacher server."
            ) from None
        self._infer = utils_infer
        self.device = device or utils_infer.device
        settings = OmegaConf.load(str(config or files("f5_tts").joinpath(f"configs/{self.MODEL}.yaml"))).model
        self.mel_spec_type = settings.mel_spec.mel_spec_type
        self._model = utils_infer.load_model(
            get_class(f"f5_tts.model.{settings.backbone}"),
            settings.arch,
            str(checkpoint),
            mel_spec_type=self.mel_spec_type,
            device=self.device,
        )
        self._vocoder = utils_infer.load_vocoder(
            self.mel_spec_type, is_local=True, local_path=str(vocoder), device=self.device
        )
        self.reference_audio, self.reference_text = utils_infer.preprocess_ref_audio_text(
            str(reference_audio), reference_text, show_info=_quiet
        )

    def speak(self, text: str, *, speed: float) -> tuple[np.ndarray, int]:
        audio, rate, _ = self._infer.infer_process(
            self.reference_audio,
            self.reference_text,
            text,
            self._model,
            self._vocoder,
            mel_spec_type=self.mel_spec_type,
            speed=speed,
            device=self.device,
            show_info=_quiet,
        )
        return np.asarray(audio, dtype=np.float32), rate


def _quiet(*messages: object) -> None:
    """f5-tts reports every step through ``show_info``; a pipeline run has its own progress."""


NOT_CONFIGURED = gettext_noop(
    "No F5-TTS teacher is configured: give the URL of a teacher server (VOICELAB_TEACHER_URL, or "
    "--tts-url on the command line), or local F5-TTS checkpoint and vocoder files for f5-tts in a GPU worker "
    "(VOICELAB_F5_CHECKPOINT and VOICELAB_F5_VOCODER, or --f5-checkpoint and --f5-vocoder)."
)


@dataclass(frozen=True)
class TeacherSource:
    """Where a teacher comes from: a server, else F5-TTS in process from local files."""

    url: str = ""
    checkpoint: Path | None = None
    vocoder: Path | None = None

    def problem(self) -> str:
        """Why no teacher can be built from this source; empty when one can."""
        return "" if self.url or (self.checkpoint and self.vocoder) else NOT_CONFIGURED

    def teacher(self, *, reference_audio: Path | None, reference_text: str) -> Teacher:
        """The teacher cloning ``reference_audio`` (a server without one speaks in its own voice)."""
        if self.url:
            return HttpTeacher(self.url, reference_audio=reference_audio, reference_text=reference_text)
        if not (self.checkpoint and self.vocoder):
            raise TeacherError(NOT_CONFIGURED)
        if reference_audio is None:
            raise TeacherError("F5-TTS in process needs the voice to clone: its reference audio and transcript.")
        return F5Teacher(
            checkpoint=self.checkpoint,
            vocoder=self.vocoder,
            reference_audio=reference_audio,
            reference_text=reference_text,
        )


def teacher_reference(teacher: Teacher, style: str, sentences: Sequence[str]) -> Reference:
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
