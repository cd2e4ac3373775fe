"""The Kokoro TTS service (Stage 4's target): speaks with the deployed style voices.

A small ASGI app (Starlette, served by uvicorn) that the call center's agents call:

- ``POST /synthesize`` JSON ``{text, style?, speed?}`` → 24 kHz mono WAV;
- ``POST /set_voice?style=empatico`` switches the active style at run time;
- ``GET /voices`` lists the styles and the tensor file behind each;
- ``POST /reload`` re-reads the deployment (the deploy stage calls it);
- ``GET /health``, the only route open without a key.

Every other route needs ``Authorization: Bearer <key>`` (see ``tts_keys``): switching and
reloading an operator key, synthesizing and listing any valid key. Synthesis runs one
request at a time behind a bounded queue (``VOICELAB_TTS_QUEUE`` waiting, each answered
within ``VOICELAB_TTS_TIMEOUT`` seconds). No response names a path on the server: voice
files are given by name.

Configuration follows the seed: ``TTS_BACKEND=kokoro`` turns the deployed voices on
and ``KOKORO_VOICE_PATH`` names the active style's tensor (its folder holds the
others as ``<style>.pt``); both may come from the process environment or from the
``.env`` file the deploy stage edits. Until something is deployed, every style
speaks with a stock voice (``ef_dora`` by default), so the service works from a
fresh start.
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial, wraps
from pathlib import Path
from typing import TypeVar

import soundfile as sf
import torch
from dotenv import dotenv_values
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from voicelab.engine.assets import ModelAssets
from voicelab.engine.config import STYLE_NAMES
from voicelab.engine.errors import EngineError
from voicelab.engine.g2p import G2PError
from voicelab.engine.synthesis import SynthesisError, Synthesizer
from voicelab.engine.tts_keys import CLIENT, OPERATOR, KeyRing
from voicelab.engine.voices import VoiceError, load_voice

DEFAULT_STYLE = "neutral"
MAX_TEXT_CHARS = 2000  # about two minutes of speech: longer belongs in a batch job
JSON = "application/json"

log = logging.getLogger(__name__)
T = TypeVar("T")
Endpoint = Callable[[Request], Awaitable[Response]]


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
        self,
        *,
        synthesizer: Synthesizer,
        assets: ModelAssets,
        environ: Mapping[str, str],
        env_file: Path | None,
        fallback_voice: str = "ef_dora",
    ) -> None:
        self.synthesizer = synthesizer
        self._assets, self._environ, self._env_file, self._fallback = assets, environ, env_file, fallback_voice
        self.deployment = self._read(previous_active=None)
        # Synthesis is CPU/GPU bound and the model is not re-entrant: one request at a time.
        self._lock = threading.Lock()

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

    def voice_for(self, text: str, style: str | None) -> torch.Tensor:
        """The voice that speaks ``text`` in ``style`` (None: the active one), or why not:
        checked before a request takes a place in the queue."""
        if not text.strip():
            raise ServiceError("The text is empty.")
        if len(text) > MAX_TEXT_CHARS:
            raise ServiceError(f"The text has {len(text)} characters; the limit is {MAX_TEXT_CHARS}.", status=413)
        deployment = self.deployment
        style = style or deployment.active
        if style not in deployment.voices:
            raise ServiceError(f"Unknown style {style!r}: choose one of {', '.join(STYLE_NAMES)}.")
        return deployment.voices[style].tensor

    def speak(self, text: str, voice: torch.Tensor, *, speed: float) -> bytes:
        """``text`` in ``voice`` as a 16-bit WAV file."""
        try:
            with self._lock:
                audio = self.synthesizer.synthesize(text, voice, speed=speed)
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


@dataclass(frozen=True)
class ServiceLimits:
    """How much synthesis the service takes on: ``waiting`` requests queued behind the one
    being spoken, each answered within ``timeout`` seconds of its arrival."""

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
    """Synthesis one request at a time, on its own thread, with at most ``limits.waiting``
    requests waiting; beyond that a request is refused at once (503, ``Retry-After``).

    Each request is answered within ``limits.timeout`` seconds of its arrival (504 after
    that). One still waiting then is dropped: it is never synthesized. One already being
    synthesized cannot be stopped midway (the model has no way to cancel), so it runs to
    its end, which MAX_TEXT_CHARS bounds, and keeps its place until then: the bound on the
    work taken on holds even when every caller gives up.
    """

    def __init__(self, limits: ServiceLimits) -> None:
        self.limits = limits
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tts-synthesis")
        self._count_lock = threading.Lock()
        self._pending = 0  # being synthesized or waiting
        self._seconds = 1.0  # a moving average of one synthesis, for Retry-After

    def state(self) -> dict:
        return {"pending": self._pending, "max_waiting": self.limits.waiting, "timeout_s": self.limits.timeout}

    async def run(self, work: Callable[[], T]) -> T:
        job = asyncio.wrap_future(self._admit(work))
        try:
            # On timeout the wrapper is cancelled, and with it the job unless it has started.
            return await asyncio.wait_for(job, self.limits.timeout)
        except TimeoutError:
            raise ServiceError(
                f"No answer within {self.limits.timeout:g} s: the service is overloaded or the text too long.",
                status=504,
            ) from None

    def _admit(self, work: Callable[[], T]) -> Future[T]:
        with self._count_lock:
            if self._pending > self.limits.waiting:
                retry = max(1, math.ceil(self._seconds))
                raise ServiceError(
                    f"The service is busy: its queue ({self.limits.waiting} waiting) is full; retry in {retry} s.",
                    status=503,
                    headers={"Retry-After": str(retry)},
                )
            self._pending += 1
        job = self._thread.submit(self._timed, work)
        job.add_done_callback(self._release)  # when it ends, or is dropped before it starts
        return job

    def _timed(self, work: Callable[[], T]) -> T:
        started = time.monotonic()
        try:
            return work()
        finally:
            self._seconds = 0.8 * self._seconds + 0.2 * (time.monotonic() - started)

    def _release(self, job: Future) -> None:
        with self._count_lock:
            self._pending -= 1


def _error(exc: ServiceError) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=exc.headers)


def _bearer_key(request: Request) -> str:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" else ""


def _key_refusal(request: Request, keys: KeyRing, needs: str) -> ServiceError | None:
    """401 without a valid key, 403 for a client key where an operator's is needed."""
    key = _bearer_key(request)
    if not key:
        return ServiceError(
            "This route needs an API key: send Authorization: Bearer <key>.",
            401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    role = keys.role_of(key)
    if role is None:
        return ServiceError(
            "The API key is not valid: it is unknown or has been revoked.",
            401,
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    if needs == OPERATOR and role != OPERATOR:
        return ServiceError("This route needs an operator key; this is a client key.", 403)
    return None


def _cross_origin(request: Request) -> bool:
    """Whether a web page on another origin sent the request.

    The service serves no pages, so no browser has any business calling it, while its
    real callers (the lab, call-center back ends, curl) are programs and send no
    ``Origin``. Browsers add ``Origin`` to every cross-origin request, "simple" ones
    included (a ``text/plain`` POST from any page on the machine needs no preflight), so
    an ``Origin`` other than the service's own is a page trying to drive it: refused
    before anything else, and no response carries CORS headers, so a page can neither
    send a request that needs a preflight nor read any answer. The service's own origin
    (as the ``Host`` header names it) is not cross-origin and passes; DNS rebinding can
    forge that, which is why the API key, and not the origin, is the credential.
    """
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    return origin is not None and origin.rstrip("/").lower() != own.lower()


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _refusal(request: Request, *, keys: KeyRing, needs: str | None, json_body: bool) -> ServiceError | None:
    """Why the request is refused before its route runs: foreign origin, key, body type."""
    if _cross_origin(request):
        return ServiceError("Requests from web pages on other origins are refused.", 403)
    if needs and (refusal := _key_refusal(request, keys, needs)):
        return refusal
    media_type = _media_type(request)
    if request.method == "POST" and (json_body or media_type) and media_type != JSON:
        sent = media_type or "no Content-Type"
        return ServiceError(f"Send the body as JSON (Content-Type: {JSON}), not {sent}.", 415)
    return None


def _guarded(endpoint: Endpoint, *, keys: KeyRing, needs: str | None, json_body: bool = False) -> Endpoint:
    """``endpoint`` behind :func:`_refusal`. ``needs``: None (open), CLIENT (any valid key)
    or OPERATOR; ``json_body``: the route reads a JSON body (a POST that sends any body
    at all must send JSON)."""

    @wraps(endpoint)
    async def guarded(request: Request) -> Response:
        refusal = _refusal(request, keys=keys, needs=needs, json_body=json_body)
        return _error(refusal) if refusal else await endpoint(request)

    return guarded


def _synthesis_request(body: object) -> tuple[str, str | None, float]:
    """``(text, style, speed)`` from the JSON body of /synthesize."""
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        raise ServiceError('The JSON needs a "text" string.')
    style, speed = body.get("style"), body.get("speed", 1.0)
    if style is not None and not isinstance(style, str):
        raise ServiceError('"style" must be a string.')
    if not isinstance(speed, (int, float)) or isinstance(speed, bool):
        raise ServiceError('"speed" must be a number.')
    return body["text"], style, float(speed)


async def _json(request: Request) -> object:
    try:
        return await request.json()
    except ValueError:
        raise ServiceError('Send JSON like {"text": "Hola", "style": "amable", "speed": 1.0}.') from None


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"error": "The TTS service failed; its log says why."}, status_code=500)


def create_app(service: TTSService, *, keys: KeyRing, limits: ServiceLimits = ServiceLimits()) -> Starlette:
    """The HTTP face of ``service``; every refusal is JSON ``{"error": message}``."""
    queue = SynthesisQueue(limits)

    async def health(request: Request) -> JSONResponse:
        config = service.synthesizer.config
        return JSONResponse(
            {
                "status": "ok",
                "backend": config.backend,
                "device": config.device,
                "queue": queue.state(),
                **service.describe(),
            }
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
            text, style, speed = _synthesis_request(await _json(request))
            voice = service.voice_for(text, style)
            wav = await queue.run(partial(service.speak, text, voice, speed=speed))
        except ServiceError as exc:
            return _error(exc)
        return Response(wav, media_type="audio/wav")

    guard = partial(_guarded, keys=keys)
    return Starlette(
        routes=[
            Route("/health", guard(health, needs=None), methods=["GET"]),
            Route("/voices", guard(voices, needs=CLIENT), methods=["GET"]),
            Route("/set_voice", guard(set_voice, needs=OPERATOR), methods=["POST"]),
            Route("/reload", guard(reload, needs=OPERATOR), methods=["POST"]),
            Route("/synthesize", guard(synthesize, needs=CLIENT, json_body=True), methods=["POST"]),
        ],
        exception_handlers={HTTPException: _http_error, 500: _server_error},
    )
