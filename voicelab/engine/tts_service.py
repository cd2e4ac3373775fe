"""The Kokoro TTS service (Stage 4's target): what speaks, and how much it takes on.

The HTTP face is ``tts_app``. This module holds its state, with no HTTP in it:

- :class:`Deployment`: which tensor speaks each style, and each style's pace, read from the
  environment and the ``.env`` file the deploy stage edits. ``TTS_BACKEND=kokoro`` turns the
  deployed voices on and ``KOKORO_VOICE_PATH`` names the active style's tensor (its folder
  holds the others as ``<style>.pt``, and ``pace.json`` when the deploy measured the styles'
  pace). Until something is deployed, every style speaks with a stock voice (``ef_dora`` by
  default), so the service works from a fresh start.
- :class:`TTSService`: a request's voice (a style, a stock voice or a weighted mix of them),
  its text cut into sentences, and the deployment swapped atomically on reload. A request
  holds the voice it started with, so a reload never changes a voice mid-sentence.
- :class:`SynthesisQueue`: the requests in service, bounded (``VOICELAB_TTS_QUEUE`` waiting
  beyond one per worker: then 503 with ``Retry-After``), each answered within
  ``VOICELAB_TTS_TIMEOUT`` seconds, rendered by a :class:`SynthesisPool` sentence by sentence.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import Future
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from dotenv import dotenv_values

from voicelab.engine.assets import AssetError, ModelAssets
from voicelab.engine.config import STYLE_NAMES
from voicelab.engine.deploy import PACE_FILE
from voicelab.engine.errors import EngineError
from voicelab.engine.g2p import G2PError, phonemize
from voicelab.engine.styles import get_style
from voicelab.engine.synthesis import (
    CHUNK_PAUSE_SECONDS,
    MAX_SPEED,
    MIN_SPEED,
    SAMPLE_RATE,
    RenderJob,
    SynthesisError,
    SynthesisPool,
    pause,
    sentence_chunks,
    timings_unavailable,
)
from voicelab.engine.timestamps import TimedChunk, WordTiming, word_timings
from voicelab.engine.voice_mix import MixError, blend, parse_mix
from voicelab.engine.voices import VoiceError, load_voice

DEFAULT_STYLE = "neutral"
MAX_TEXT_CHARS = 2000  # about two minutes of speech: longer belongs in a batch job
LOOKAHEAD = 2  # sentences of one request rendering at once: the next is ready when one ends

log = logging.getLogger(__name__)


class ServiceError(EngineError):
    """A request or deployment the service refuses; ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int = 400, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class StyleVoice:
    style: str
    path: Path
    source: str  # "deployed" or "stock:<name>"
    pace: float  # the style's own speed, which a request's speed multiplies
    tensor: torch.Tensor = field(repr=False)


@dataclass(frozen=True)
class Deployment:
    """Which tensor speaks each style, read from the environment and the ``.env`` file."""

    tts_backend: str
    voices: dict[str, StyleVoice]
    active: str

    @classmethod
    def read(
        cls,
        *,
        assets: ModelAssets,
        environ: Mapping[str, str],
        env_file: Path | None,
        fallback: str,
        previous_active: str | None = None,
    ) -> Deployment:
        values = {**environ, **(dotenv_values(env_file) if env_file and env_file.exists() else {})}
        backend = (values.get("TTS_BACKEND") or "").strip()
        voice_path = Path(values["KOKORO_VOICE_PATH"]) if values.get("KOKORO_VOICE_PATH") else None
        deployed_dir = voice_path.parent if voice_path else None
        if backend == "kokoro" and voice_path is not None and not voice_path.is_file():
            log.error("KOKORO_VOICE_PATH points to %s, which does not exist.", voice_path)
            raise ServiceError(f"KOKORO_VOICE_PATH names {voice_path.name}, which does not exist.", status=409)
        paces = _paces(deployed_dir / PACE_FILE if backend == "kokoro" and deployed_dir else None)
        stock = assets.voice_path(fallback)
        voices = {}
        for style in STYLE_NAMES:
            deployed = deployed_dir / f"{style}.pt" if deployed_dir else None
            if backend == "kokoro" and deployed is not None and deployed.is_file():
                voices[style] = _load(style, deployed, "deployed", paces[style])
            else:
                voices[style] = _load(style, stock, f"stock:{fallback}", paces[style])
        active = voice_path.stem if voice_path and voice_path.stem in voices else previous_active or DEFAULT_STYLE
        return cls(tts_backend=backend or "unset", voices=voices, active=active)


def _paces(path: Path | None) -> dict[str, float]:
    """Each style's speed: measured by the deploy (``pace.json``), else the seed's F5 speeds."""
    paces = {style: get_style(style).f5_speed for style in STYLE_NAMES}
    if path is None or not path.is_file():
        return paces
    try:
        measured = json.loads(path.read_text(encoding="utf-8"))
        paces |= {style: float(measured[style]) for style in STYLE_NAMES if style in measured}
    except (ValueError, TypeError, OSError) as exc:
        raise ServiceError(f"{PACE_FILE} beside the deployed voices cannot be read ({exc}).", status=409) from None
    if not all(MIN_SPEED <= pace <= MAX_SPEED for pace in paces.values()):
        raise ServiceError(f"{PACE_FILE} holds a pace outside {MIN_SPEED}-{MAX_SPEED}.", status=409)
    return paces


def _load(style: str, path: Path, source: str, pace: float) -> StyleVoice:
    try:
        return StyleVoice(style, path, source, pace, load_voice(path))
    except VoiceError as exc:
        log.error("The voice for %s cannot be used: %s", style, exc)
        reason = str(exc).replace(str(path), path.name)  # the file's name, never where it lives
        raise ServiceError(f"The voice for {style} cannot be used: {reason}", status=409) from None


@dataclass(frozen=True)
class Voice:
    """What speaks one request: the tensor, its name as asked, and its pace."""

    name: str
    tensor: torch.Tensor = field(repr=False)
    pace: float = 1.0


class TTSService:
    """The service's state: the synthesis pool and the current deployment, swapped atomically."""

    def __init__(
        self,
        *,
        pool: SynthesisPool,
        assets: ModelAssets,
        environ: Mapping[str, str],
        env_file: Path | None,
        fallback_voice: str = "ef_dora",
    ) -> None:
        self.pool = pool
        self._assets, self._environ, self._env_file, self._fallback = assets, environ, env_file, fallback_voice
        self.deployment = self._read(previous_active=None)
        self._stock = lru_cache(maxsize=64)(self._read_stock)

    def _read(self, *, previous_active: str | None) -> Deployment:
        return Deployment.read(
            assets=self._assets,
            environ=self._environ,
            env_file=self._env_file,
            fallback=self._fallback,
            previous_active=previous_active,
        )

    def reload(self) -> Deployment:
        """Re-read the deployment; on any problem the previous one stays in service."""
        self.deployment = self._read(previous_active=self.deployment.active)
        return self.deployment

    def set_voice(self, style: str) -> None:
        if style not in self.deployment.voices:
            raise ServiceError(f"Unknown style {style!r}: choose one of {', '.join(STYLE_NAMES)}.")
        self.deployment = Deployment(self.deployment.tts_backend, self.deployment.voices, style)

    def stock_names(self) -> list[str]:
        return sorted(path.stem for path in self._assets.voices_dir.glob("*.pt"))

    def voice(self, spec: str | None) -> Voice:
        """The voice ``spec`` names: a style, a stock voice or a weighted mix of them (None or
        empty: the active style). A mix's pace is its styles' paces, weighted (a stock voice's is 1)."""
        deployment = self.deployment  # one deployment for the whole request
        try:
            parts = parse_mix(spec or deployment.active)
        except MixError as exc:
            raise ServiceError(str(exc)) from None
        paces = {name: deployment.voices[name].pace if name in deployment.voices else 1.0 for name, _ in parts}

        def tensor(name: str) -> torch.Tensor:
            if name in deployment.voices:
                return deployment.voices[name].tensor
            return self._stock(name)

        mixed = blend(parts, tensor) if len(parts) > 1 else tensor(parts[0][0])
        name = "+".join(f"{n}({w:.3g})" for n, w in parts) if len(parts) > 1 else parts[0][0]
        return Voice(name, mixed, sum(weight * paces[n] for n, weight in parts))

    def _read_stock(self, name: str) -> torch.Tensor:
        try:
            path = self._assets.voice_path(name)
            if not path.is_file():
                raise AssetError(name)
            return load_voice(path)
        except (AssetError, VoiceError):
            raise ServiceError(
                f"Unknown voice {name!r}: name a style ({', '.join(STYLE_NAMES)}), one of the "
                f"{len(self.stock_names())} stock voices GET /v1/audio/voices lists, or a mix like amable(2)+neutral(1)."
            ) from None

    def jobs(self, text: str, voice: Voice, *, speed: float = 1.0) -> list[RenderJob]:
        """``text`` as one render job per sentence, or why not: checked before a request takes
        a place in the queue. ``speed`` multiplies the voice's pace."""
        if not text.strip():
            raise ServiceError("The text is empty.")
        if len(text) > MAX_TEXT_CHARS:
            raise ServiceError(f"The text has {len(text)} characters; the limit is {MAX_TEXT_CHARS}.", status=413)
        pace = voice.pace * speed
        if not MIN_SPEED <= pace <= MAX_SPEED:
            raise ServiceError(
                f"Speed {speed:g} times the voice's pace {voice.pace:g} is {pace:.2f}; "
                f"it must be between {MIN_SPEED} and {MAX_SPEED}."
            )
        try:
            return [self.pool.job(chunk, voice.tensor, speed=pace) for chunk in sentence_chunks(phonemize(text))]
        except (SynthesisError, G2PError) as exc:
            raise ServiceError(str(exc)) from None

    def check_timings(self) -> None:
        """Word timings come from the PyTorch model's duration predictor: refused (501) up
        front when the models folder lacks its weights, rather than after rendering."""
        if missing := timings_unavailable(self._assets):
            raise ServiceError(f"{missing} Or ask for audio alone.", status=501)

    def describe(self) -> dict:
        deployment = self.deployment
        return {
            "tts_backend": deployment.tts_backend,
            "active": deployment.active,
            "styles": {
                style: {"file": voice.path.name, "source": voice.source, "pace": voice.pace}
                for style, voice in deployment.voices.items()
            },
        }


@dataclass(frozen=True)
class ServiceLimits:
    """How much synthesis the service takes on: ``waiting`` requests queued beyond one per
    worker, each answered within ``timeout`` seconds of its arrival."""

    waiting: int = 8
    timeout: float = 60.0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ServiceLimits:
        """``VOICELAB_TTS_QUEUE`` and ``VOICELAB_TTS_TIMEOUT``, or the defaults."""
        try:
            waiting = int(environ.get("VOICELAB_TTS_QUEUE") or cls.waiting)
            timeout = float(environ.get("VOICELAB_TTS_TIMEOUT") or cls.timeout)
        except ValueError as exc:
            raise ServiceError(f"VOICELAB_TTS_QUEUE / VOICELAB_TTS_TIMEOUT: {exc}.") from None
        if waiting < 0 or not timeout > 0:
            raise ServiceError("VOICELAB_TTS_QUEUE must be 0 or more and VOICELAB_TTS_TIMEOUT more than 0 seconds.")
        return cls(waiting=waiting, timeout=timeout)


class SynthesisQueue:
    """The requests in service: at most one per worker of ``pool`` plus ``limits.waiting``;
    beyond that a request is refused at once (503, ``Retry-After``).

    A request's sentences go to the pool ``LOOKAHEAD`` at a time, so twenty callers share the
    workers sentence by sentence instead of each waiting for whole texts ahead of it. Each
    request is answered within ``limits.timeout`` seconds of its arrival (504 after that, or a
    stream cut short); its sentences not yet started are then dropped. One being rendered runs
    to its end (the model cannot be stopped midway), which MAX_TEXT_CHARS and the sentence
    split bound.
    """

    def __init__(self, limits: ServiceLimits, pool: SynthesisPool) -> None:
        self.limits, self.pool = limits, pool
        self.capacity = pool.config.processes + limits.waiting
        self._count_lock = threading.Lock()
        self._pending = 0  # requests in service
        self._seconds = 1.0  # a moving average of one request, for Retry-After

    def state(self) -> dict:
        return {
            "pending": self._pending,
            "workers": self.pool.config.processes,
            "max_waiting": self.limits.waiting,
            "timeout_s": self.limits.timeout,
        }

    @asynccontextmanager
    async def admitted(self) -> AsyncIterator[float]:
        """A place in service for one request, or a 503; yields its deadline (monotonic)."""
        with self._count_lock:
            if self._pending >= self.capacity:
                retry = max(1, math.ceil(self._seconds * self.capacity / self.pool.config.processes))
                raise ServiceError(
                    f"The service is busy: its queue ({self.limits.waiting} waiting) is full; retry in {retry} s.",
                    status=503,
                    headers={"Retry-After": str(retry)},
                )
            self._pending += 1
        started = time.monotonic()
        try:
            yield started + self.limits.timeout
        finally:
            with self._count_lock:
                self._pending -= 1
            self._seconds = 0.8 * self._seconds + 0.2 * (time.monotonic() - started)

    async def render(self, jobs: list[RenderJob], deadline: float) -> AsyncIterator[np.ndarray]:
        """Each job's audio in order, a pause between sentences, by ``deadline`` or a 504."""
        submitted: list[Future[np.ndarray]] = []
        try:
            for index in range(len(jobs)):
                while len(submitted) < min(len(jobs), index + LOOKAHEAD):
                    submitted.append(self.pool.submit(jobs[len(submitted)]))
                audio = await self._by(deadline, submitted[index])
                yield audio if index == len(jobs) - 1 else np.concatenate([audio, pause()])
        finally:
            for job in submitted:
                job.cancel()  # those not started yet; a disconnected caller's too

    async def render_timed(
        self, text: str, jobs: list[RenderJob], deadline: float
    ) -> tuple[np.ndarray, list[WordTiming]]:
        """The whole audio of ``text`` (its ``jobs``) and when each of its words is spoken."""
        durations = [self.pool.submit_durations(job) for job in jobs]
        pieces: list[np.ndarray] = []
        chunks: list[TimedChunk] = []
        offset = 0.0
        try:
            async for audio in self.render(jobs, deadline):
                index = len(chunks)
                seconds = len(audio) / SAMPLE_RATE
                spoken = seconds - (CHUNK_PAUSE_SECONDS if index < len(jobs) - 1 else 0.0)  # render's pause
                frames = await self._by(deadline, durations[index])
                chunks.append(TimedChunk(jobs[index].phonemes, frames, offset, spoken))
                pieces.append(audio)
                offset += seconds
        finally:
            for future in durations:
                future.cancel()
        return np.concatenate(pieces), word_timings(text, chunks, self.pool.vocab)

    async def _by(self, deadline: float, future: Future[np.ndarray]) -> np.ndarray:
        """``future``'s result by ``deadline``, else a 504; a synthesis error is the caller's 400."""
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), max(deadline - time.monotonic(), 0.001))
        except TimeoutError:
            raise ServiceError(
                f"No answer within {self.limits.timeout:g} s: the service is overloaded or the text too long.",
                status=504,
            ) from None
        except SynthesisError as exc:
            raise ServiceError(str(exc)) from None
