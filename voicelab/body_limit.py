"""Refuse a request body over its page's limit before reading it.

Django reads a whole request body before any middleware or view runs, so a limit
checked by a view (or by authentication) comes after the server has taken it all in:
an anonymous 300 MB POST once grew the server by 4 GB before its 403. This ASGI
middleware runs before Django: a declared ``Content-Length`` over the limit is refused
at once, unread, and a chunked body is counted as it arrives and cut off at the limit.
The ASGI server must pass the body on as the application reads it (uvicorn does), and
Django spools what it reads past ``FILE_UPLOAD_MAX_MEMORY_SIZE`` to disk.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.conf import settings
from django.urls import Resolver404, resolve

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# What a multipart form adds around the file: boundaries, headers, the other fields.
FORM_OVERHEAD_BYTES = 64 * 1024


def limits() -> dict[str, int]:
    """Body limits of the pages that take files, by URL name; every other page gets Django's
    ``DATA_UPLOAD_MAX_MEMORY_SIZE``."""
    upload = settings.VOICELAB_MAX_UPLOAD_BYTES + FORM_OVERHEAD_BYTES
    return {
        "labeling:upload_take": upload,
        "distillation:launch": upload,
        "labeling:import": settings.VOICELAB_MAX_IMPORT_BYTES + FORM_OVERHEAD_BYTES,
    }


def limit_for(path: str) -> int:
    try:
        name = resolve(path).view_name
    except Resolver404:
        name = ""
    return limits().get(name, settings.DATA_UPLOAD_MAX_MEMORY_SIZE + FORM_OVERHEAD_BYTES)


def refusal(limit: int) -> bytes:
    return (
        f"The request is larger than this page accepts ({limit / 1_048_576:.0f} MB): nothing was saved. "
        "Send a smaller file."
    ).encode()


class BodySizeLimit:
    """ASGI middleware: 413 for a body over its page's limit, before the application reads it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            return await _refuse(send, limit)
        await _Counted(self.app, limit)(scope, receive, send)


class _Counted:
    """One request whose body is counted as the application reads it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit
        self.received, self.exceeded, self.responded = 0, False, False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counted_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                self.received += len(message.get("body", b""))
                if self.received > self.limit:
                    self.exceeded = True
                    return {"type": "http.disconnect"}  # Django stops reading and answers nothing
            return message

        async def guarded_send(message: Message) -> None:
            if self.exceeded:
                return
            self.responded = True
            await send(message)

        await self.app(scope, counted_receive, guarded_send)
        if self.exceeded and not self.responded:
            await _refuse(send, self.limit)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, limit: int) -> None:
    body = refusal(limit)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
