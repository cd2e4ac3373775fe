"""Text meant for a person, kept translatable.

The engine knows no Django and writes English. A :class:`Message` keeps its English template
(which is also its key in the translation catalogs: a gettext msgid) apart from its values, so
a page can show it in the reader's language and with their decimal separator
(``voicelab.i18n.translated``), while the CLI, the logs and ``str()`` read it in English.
A value may itself be a Message (a measurement with its unit: "182 Hz", "2.5 semitones").

``gettext_noop`` marks a template that is not written inside ``Message(...)`` (a style's rule
messages, the units) so that ``manage.py makemessages`` finds it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Translate = Callable[[str], str]


def gettext_noop(text: str) -> str:
    """``text`` unchanged: only marks it for the translation catalogs."""
    return text


@dataclass(frozen=True)
class Message:
    text: str  # English, with ``{name}`` or ``{name:spec}`` fields
    values: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.render(lambda text: text)

    def render(self, translate: Translate, decimal_separator: str = ".") -> str:
        """The text in the language ``translate`` gives, numbers with ``decimal_separator``."""
        values = {
            name: value.render(translate, decimal_separator)
            if isinstance(value, Message)
            else _Number(value, decimal_separator)
            if isinstance(value, float | int) and not isinstance(value, bool)
            else value
            for name, value in self.values.items()
        }
        return translate(self.text).format(**values)

    def as_dict(self) -> dict[str, Any]:
        values = {k: v.as_dict() if isinstance(v, Message) else v for k, v in self.values.items()}
        return {"text": self.text, "values": values}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        values = {k: cls.from_dict(v) if _is_message(v) else v for k, v in data.get("values", {}).items()}
        return cls(data["text"], values)


def message_of(error: BaseException | Message | str) -> Message:
    """The Message an error was raised with; else its text (a system error's, a fixed English
    text) as a Message that reads exactly as it is, or translated where a catalog has it."""
    if isinstance(error, BaseException):
        error = error.args[0] if len(error.args) == 1 and isinstance(error.args[0], Message) else str(error)
    if isinstance(error, Message):
        return error
    return Message(error.replace("{", "{{").replace("}", "}}"))


def _is_message(value: object) -> bool:
    return isinstance(value, Mapping) and set(value) == {"text", "values"}


@dataclass(frozen=True)
class _Number:
    """A number that formats as asked, then with the reader's decimal separator."""

    value: float | int
    decimal_separator: str

    def __format__(self, spec: str) -> str:
        return format(self.value, spec).replace(".", self.decimal_separator)
