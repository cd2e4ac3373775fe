"""The engine's messages in the reader's language (see ``voicelab.engine.messages``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils import formats
from django.utils.translation import gettext

from voicelab.engine.messages import Message


def translated(message: Message | Mapping[str, Any] | BaseException | str | None) -> str:
    """``message`` in the active language: a Message, one stored as JSON (``as_dict``), an
    error raised with a Message, or plain text (translated when it is a catalog's message, as
    the fixed texts stored with a failed take are; else shown as it is)."""
    if isinstance(message, BaseException):
        message = message.args[0] if len(message.args) == 1 else str(message)
    if isinstance(message, Mapping):
        message = Message.from_dict(message)
    if isinstance(message, Message):
        return message.render(gettext, formats.get_format("DECIMAL_SEPARATOR"))
    return "" if message is None else gettext(str(message))
