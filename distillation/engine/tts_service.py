"""The Kokoro TTS service (Stage 4's target): speaks with the deployed style voices.

A small ASGI app (Starlette, served by uvicorn) that the call center's agents call:

- ``POST /synthesize`` JSON ``{text, style?, speed?}`` → 24 kHz mono WAV;
- ``POST /set_voice?style=empatico`` switches the active style at run time;
- ``GET /voices`` lists the styles and the tensor file behind each;
- ``POST /reload`` re-reads the deployment (the deploy stage calls it);
- ``GET /health``.

No response names a path on the server: voice files are given by name.

Configuration follows the seed: ``TTS_BACKEND=kokoro`` turns the deployed voices on
and ``KOKORO_VOICE_PATH`` names the active style's tensor (its folder holds the
others as ``<style>.pt``); both may come from the process environment or from the
``.env`` file the deploy stage edits. Until something is deployed, every style
speaks with a stock voice (``ef_dora`` by default), so the service works from a
fresh start.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import soundfile as sf
import torch
from dotenv import dotenv_values
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from distillation.engine.assets import ModelAssets
from distillation.engine.config import STYLE_NAMES
from distillation.engine.g2p import G2PError
from distillation.engine.synthesis import Synthesizer, SynthesisError
from distillation.engine.voices import VoiceError, load_voice

DEFAULT_STYLE = "neutral"
MAX_TEXT_CHARS = 2000  # about two minutes of speech: longer belongs in a batch job

log = logging.getLogger(__name__)


class ServiceError(ValueError):
    """A request or deployment the service refuses; ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class StyleVoice:
    style: str
    path: Path
    source: str  # "deployed" or "stock:<name>"
    tensor: torch.Tensor = field(repr=False)


@dataclass(frozen=True)
class Deployment:
    """Which tensor speaks each style, read from the environment and the ``.env`` file."""

    tts_backend: str
    voices: dict[str, StyleVoice]
    active: str

    @classmethod
    def read(
        cls, *, assets: ModelAssets, environ: Mapping[str, str], env_file: Path | None, fallback: str,
        previous_active: str | None = None,
    ) -> Deployment:
        values = {**environ, **(dotenv_values(env_file) if env_file and env_file.exists() else {})}
        backend = (values.get("TTS_BACKEND") or "").strip()
        voice_path = Path(values["KOKORO_VOICE_PATH"]) if values.get("KOKORO_VOICE_PATH") else None
        deployed_dir = voice_path.parent if voice_path else None
        if backend == "kokoro" and voice_path is not None and not voice_path.is_file():
            log.error("KOKORO_VOICE_PATH points to %s, which does not exist.", voice_path)
            raise ServiceError(f"KOKORO_VOICE_PATH names {voice_path.name}, which does not exist.", status=409)
        stock = assets.voice_path(fallback)
        voices = {}
        for style in STYLE_NAMES:
            deployed = deployed_dir / f"{style}.pt" if deployed_dir else None
            if backend == "kokoro" and deployed is not None and deployed.is_file():
                voices[style] = _load(style, deployed, "deployed")
            else:
                voices[style] = _load(style, stock, f"stock:{fallback}")
        active = voice_path.stem if voice_path and voice_path.stem in voices else previous_active or DEFAULT_STYLE
        return cls(tts_backend=backend or "unset", voices=voices, active=active)


def _load(style: str, path: Path, source: str) -> StyleVoice:
    try:
        return StyleVoice(style, path, source, load_voice(path))
    except VoiceError as exc:
        log.error("The voice for %s cannot be used: %s", style, exc)
        reason = str(exc).replace(str(path), path.name)  # the file's name, never where it lives
        raise ServiceError(f"The voice for {style} cannot be used: {reason}", status=409) from None


class TTSService:
    """The service's state: one synthesizer and the current deployment, swapped atomically."""

    def __init__(
        self, *, synthesizer: Synthesizer, assets: ModelAssets, environ: Mapping[str, str],
        env_file: Path | None, fallback_voice: str = "ef_dora",
    ) -> None:
        self.synthesizer = synthesizer
        self._assets, self._environ, self._env_file, self._fallback = assets, environ, env_file, fallback_voice
        self.deployment = self._read(previous_active=None)
        # Synthesis is CPU/GPU bound and the model is not re-entrant: one request at a time.
        self._lock = threading.Lock()

    def _read(self, *, previous_active: str | None) -> Deployment:
        return Deployment.read(
            assets=self._assets, environ=self._environ, env_file=self._env_file, fallback=self._fallback,
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

    def synthesize(self, text: str, *, style: str | None, speed: float) -> bytes:
        if not text.strip():
            raise ServiceError("The text is empty.")
        if len(text) > MAX_TEXT_CHARS:
            raise ServiceError(f"The text has {len(text)} characters; the limit is {MAX_TEXT_CHARS}.", status=413)
        deployment = self.deployment
        style = style or deployment.active
        if style not in deployment.voices:
            raise ServiceError(f"Unknown style {style!r}: choose one of {', '.join(STYLE_NAMES)}.")
        try:
            with self._lock:
                audio = self.synthesizer.synthesize(text, deployment.voices[style].tensor, speed=speed)
        except (SynthesisError, G2PError) as exc:
            raise ServiceError(str(exc)) from None
        buffer = io.BytesIO()
        sf.write(buffer, audio, self.synthesizer.sample_rate, format="WAV", subtype="PCM_16")
        return buffer.getvalue()

    def describe(self) -> dict:
        deployment = self.deployment
        return {
            "tts_backend": deployment.tts_backend,
            "active": deployment.active,
            "styles": {
                style: {"file": voice.path.name, "source": voice.source} for style, voice in deployment.voices.items()
            },
        }


def _error(exc: ServiceError) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=exc.status)


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"error": "The TTS service failed; its log says why."}, status_code=500)


def create_app(service: TTSService) -> Starlette:
    """The HTTP face of ``service``; every refusal is JSON ``{"error": message}``."""

    async def health(request: Request) -> JSONResponse:
        config = service.synthesizer.config
        return JSONResponse(
            {"status": "ok", "backend": config.backend, "device": config.device, **service.describe()}
        )

    async def voices(request: Request) -> JSONResponse:
        return JSONResponse(service.describe())

    async def set_voice(request: Request) -> JSONResponse:
        try:
            service.set_voice(request.query_params.get("style", ""))
        except ServiceError as exc:
            return _error(exc)
        return JSONResponse(service.describe())

    async def reload(request: Request) -> JSONResponse:
        try:
            await run_in_threadpool(service.reload)
        except ServiceError as exc:
            return _error(exc)
        return JSONResponse(service.describe())

    async def synthesize(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(ServiceError('Send JSON like {"text": "Hola", "style": "amable", "speed": 1.0}.'))
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            return _error(ServiceError('The JSON needs a "text" string.'))
        style, speed = body.get("style"), body.get("speed", 1.0)
        if style is not None and not isinstance(style, str):
            return _error(ServiceError('"style" must be a string.'))
        if not isinstance(speed, (int, float)) or isinstance(speed, bool):
            return _error(ServiceError('"speed" must be a number.'))
        try:
            wav = await run_in_threadpool(service.synthesize, body["text"], style=style, speed=float(speed))
        except ServiceError as exc:
            return _error(exc)
        return Response(wav, media_type="audio/wav")

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/voices", voices, methods=["GET"]),
            Route("/set_voice", set_voice, methods=["POST"]),
            Route("/reload", reload, methods=["POST"]),
            Route("/synthesize", synthesize, methods=["POST"]),
        ],
        exception_handlers={HTTPException: _http_error, 500: _server_error},
    )
