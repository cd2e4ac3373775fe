"""Talking to a running Kokoro TTS service (``tts_service``): what it serves, and switching its style."""

from __future__ import annotations

import httpx

from voicelab.engine.errors import EngineError
from voicelab.engine.messages import Message

TIMEOUT_SECONDS = 30.0  # a reload reads every voice file


class TTSUnavailable(EngineError):
    """The service could not be reached, or refused; the message says which and why."""


class TTSClient:
    """The service at ``url``, called with ``api_key`` (an operator key to switch or reload)."""

    def __init__(self, url: str, *, api_key: str, timeout: float = TIMEOUT_SECONDS) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._headers = {"Authorization": f"Bearer {api_key}"}

    def voices(self) -> dict:
        """``{"tts_backend", "active", "styles": {style: {"file", "source"}}}``."""
        return self._call("GET", "/voices")

    def set_voice(self, style: str) -> dict:
        return self._call("POST", "/set_voice", params={"style": style})

    def reload(self) -> dict:
        return self._call("POST", "/reload")

    def speech(self, text: str, *, voice: str) -> bytes:
        """``text`` spoken by ``voice`` (a style, a stock voice or a mix): a whole 24 kHz WAV."""
        body = {"input": text, "voice": voice, "response_format": "wav", "stream": False}
        return self._request("POST", "/v1/audio/speech", json=body).content

    def _call(self, method: str, path: str, **options: object) -> dict:
        return self._request(method, path, **options).json()

    def _request(self, method: str, path: str, **options: object) -> httpx.Response:
        try:
            response = httpx.request(
                method, f"{self.url}{path}", headers=self._headers, timeout=self.timeout, **options
            )
        except httpx.HTTPError as exc:
            unreachable = "The TTS service at {url} could not be reached ({reason})."
            raise TTSUnavailable(Message(unreachable, {"url": self.url, "reason": str(exc)})) from None
        if response.status_code != 200:
            try:
                reason = response.json().get("error", response.text[:200])
            except (ValueError, AttributeError):
                reason = response.text[:200]
            raise TTSUnavailable(Message("The TTS service refused: {reason}", {"reason": str(reason)}))
        return response
