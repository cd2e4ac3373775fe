"""The Kokoro TTS service over HTTP (a Starlette app, served by uvicorn): what the call center's
agents and bots call.

- ``POST /v1/audio/speech``: OpenAI's speech API (the official ``openai`` client works
  unchanged): ``model`` (``kokoro``, ``tts-1`` or ``tts-1-hd``), ``input``, ``voice`` (a style,
  a stock voice, or a weighted mix like ``amable(2)+neutral(1)``), ``response_format`` (``mp3``,
  ``opus``, ``wav``, ``pcm``, ``flac``), ``speed`` (times the style's own pace) and ``stream``
  (default on where the format streams: audio is sent sentence by sentence as it is rendered);
- ``POST /v1/audio/captioned_speech``: the same body, answered whole as JSON: the audio
  (base64) and each word's ``start_time``/``end_time`` in seconds (Kokoro-FastAPI's shape),
  from Kokoro's predicted durations, for subtitles and barge-in;
- ``GET /v1/audio/voices``: the styles, what backs each, and the stock voices;
- ``POST /synthesize`` JSON ``{text, style?, speed?}`` → 24 kHz mono WAV (the seed's API);
- ``POST /set_voice?style=empatico`` switches the default style at run time;
- ``GET /voices`` lists the styles and the tensor file behind each;
- ``POST /reload`` re-reads the deployment (the deploy stage calls it);
- ``GET /health``, the only route open without a key.

Every other route needs ``Authorization: Bearer <key>`` (see ``tts_keys``): switching and
reloading an operator key, synthesizing and listing any valid key. Every refusal is JSON
``{"error": message}``; no response names a path on the server: voice files are given by name.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial, wraps

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from voicelab.engine.config import STYLE_NAMES
from voicelab.engine.speech_formats import FORMATS, Encoder
from voicelab.engine.synthesis import RenderJob
from voicelab.engine.tts_keys import CLIENT, OPERATOR, KeyRing
from voicelab.engine.tts_service import ServiceError, ServiceLimits, SynthesisQueue, TTSService

JSON = "application/json"
MODELS = ("kokoro", "tts-1", "tts-1-hd")  # OpenAI's names are accepted: every one is Kokoro-82M

Endpoint = Callable[[Request], Awaitable[Response]]


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


async def _json(request: Request) -> object:
    try:
        return await request.json()
    except ValueError:
        raise ServiceError('Send JSON like {"text": "Hola", "style": "amable", "speed": 1.0}.') from None


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"error": "The TTS service failed; its log says why."}, status_code=500)


@dataclass(frozen=True)
class SpeechRequest:
    """One ``/v1/audio/speech`` body, checked."""

    text: str
    voice: str | None
    format: str
    speed: float
    stream: bool

    @classmethod
    def from_openai(cls, body: object) -> SpeechRequest:
        if not isinstance(body, dict) or not isinstance(body.get("input"), str):
            raise ServiceError('The JSON needs an "input" string: the text to speak.')
        model = body.get("model", "kokoro")
        if model not in MODELS:
            raise ServiceError(f"Unknown model {model!r}: use {', '.join(MODELS)}.")
        voice = body.get("voice")
        voice = voice.get("id") if isinstance(voice, dict) else voice  # OpenAI's custom-voice shape
        if voice is not None and not isinstance(voice, str):
            raise ServiceError('"voice" must be a string: a style, a stock voice or a mix.')
        audio_format = body.get("response_format", "mp3")
        if audio_format not in FORMATS:
            raise ServiceError(f"Unknown response_format {audio_format!r}: use {', '.join(FORMATS)}.")
        stream = body.get("stream", FORMATS[audio_format].streams)
        if not isinstance(stream, bool):
            raise ServiceError('"stream" must be true or false.')
        return cls(body["input"], voice, audio_format, _speed(body), stream)

    @classmethod
    def from_seed(cls, body: object) -> SpeechRequest:
        """The seed's ``/synthesize`` body ``{text, style?, speed?}``: a style only, a whole WAV."""
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise ServiceError('The JSON needs a "text" string.')
        style = body.get("style")
        if style is not None and style not in STYLE_NAMES:
            raise ServiceError(f"Unknown style {style!r}: choose one of {', '.join(STYLE_NAMES)}.")
        return cls(body["text"], style, "wav", _speed(body), stream=False)


def _speed(body: dict) -> float:
    speed = body.get("speed", 1.0)
    if not isinstance(speed, (int, float)) or isinstance(speed, bool):
        raise ServiceError('"speed" must be a number.')
    return float(speed)


async def _encoded(
    queue: SynthesisQueue, jobs: list[RenderJob], audio_format: str, *, stream: bool
) -> AsyncIterator[bytes]:
    """The request's audio as bytes in ``audio_format``, sentence by sentence when streaming."""
    encoder = Encoder(FORMATS[audio_format], stream=stream)
    async with queue.admitted() as deadline:
        async for audio in queue.render(jobs, deadline):
            if chunk := encoder.feed(audio):
                yield chunk
        yield encoder.finish()


async def _speak(service: TTSService, queue: SynthesisQueue, speech: SpeechRequest) -> Response:
    """The audio, streamed or whole. What can go wrong before the first sentence is rendered
    (a full queue, a timeout, a text that cannot be spoken) is an error status; after it, a
    stream can only be cut short, which the caller sees as an incomplete response."""
    voice = service.voice(speech.voice)
    jobs = await run_in_threadpool(service.jobs, speech.text, voice, speed=speech.speed)
    audio = _encoded(queue, jobs, speech.format, stream=speech.stream)
    first = await anext(audio)
    media_type = FORMATS[speech.format].media_type
    headers = {"X-Voice": voice.name}
    if not (speech.stream and FORMATS[speech.format].streams):
        return Response(first + b"".join([chunk async for chunk in audio]), media_type=media_type, headers=headers)

    async def rest() -> AsyncIterator[bytes]:
        yield first
        async for chunk in audio:
            yield chunk

    return StreamingResponse(rest(), media_type=media_type, headers=headers)


async def _captioned(service: TTSService, queue: SynthesisQueue, speech: SpeechRequest) -> JSONResponse:
    """The whole audio (base64, in the asked format) and when each word is spoken in it, in
    the shape of Kokoro-FastAPI's captioned speech: for subtitles, and to know where a caller
    interrupted (barge-in)."""
    service.check_timings()
    voice = service.voice(speech.voice)
    jobs = await run_in_threadpool(service.jobs, speech.text, voice, speed=speech.speed)
    async with queue.admitted() as deadline:
        audio, timings = await queue.render_timed(speech.text, jobs, deadline)
    encoder = Encoder(FORMATS[speech.format], stream=False)
    encoder.feed(audio)
    return JSONResponse(
        {
            "audio": base64.b64encode(encoder.finish()).decode("ascii"),
            "audio_format": speech.format,
            "voice": voice.name,
            "timestamps": [timing.as_dict() for timing in timings],
        },
        headers={"X-Voice": voice.name},
    )


def create_app(service: TTSService, *, keys: KeyRing, limits: ServiceLimits = ServiceLimits()) -> Starlette:
    """The HTTP face of ``service``; every refusal is JSON ``{"error": message}``."""
    queue = SynthesisQueue(limits, service.pool)

    async def health(request: Request) -> JSONResponse:
        config = service.pool.config
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

    async def openai_voices(request: Request) -> JSONResponse:
        described = service.describe()
        stock = service.stock_names()
        return JSONResponse(
            {
                "default": described["active"],
                "voices": [*described["styles"], *stock],
                "styles": described["styles"],
                "stock": stock,
                "mixes": "name(weight)+name(weight), e.g. amable(2)+neutral(1): weights are normalised",
            }
        )

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

    def speech_route(
        parse: Callable[[object], SpeechRequest], answer: Callable[..., Awaitable[Response]] = _speak
    ) -> Endpoint:
        async def speak(request: Request) -> Response:
            try:
                return await answer(service, queue, parse(await _json(request)))
            except ServiceError as exc:
                return _error(exc)

        return speak

    guard = partial(_guarded, keys=keys)
    return Starlette(
        routes=[
            Route("/health", guard(health, needs=None), methods=["GET"]),
            Route("/voices", guard(voices, needs=CLIENT), methods=["GET"]),
            Route("/set_voice", guard(set_voice, needs=OPERATOR), methods=["POST"]),
            Route("/reload", guard(reload, needs=OPERATOR), methods=["POST"]),
            Route(
                "/synthesize",
                guard(speech_route(SpeechRequest.from_seed), needs=CLIENT, json_body=True),
                methods=["POST"],
            ),
            Route(
                "/v1/audio/speech",
                guard(speech_route(SpeechRequest.from_openai), needs=CLIENT, json_body=True),
                methods=["POST"],
            ),
            Route(
                "/v1/audio/captioned_speech",
                guard(speech_route(SpeechRequest.from_openai, _captioned), needs=CLIENT, json_body=True),
                methods=["POST"],
            ),
            Route("/v1/audio/voices", guard(openai_voices, needs=CLIENT), methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error, 500: _server_error},
    )
