"""Template filters of the operators' pages."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.utils.translation import gettext

register = template.Library()


@register.filter
def duration(value: timedelta | float | None) -> str:
    """``1 h 05 min``, ``3 min 20 s`` or ``45 s``: an ETA an operator reads at a glance."""
    if value is None:
        return ""
    seconds = round(value.total_seconds() if isinstance(value, timedelta) else float(value))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


@register.filter
def voice_source(source: str) -> str:
    """What backs a style in the TTS service, as the service names it (``deployed``,
    ``stock:ef_dora``), in the reader's words."""
    kind, _, name = source.partition(":")
    if kind == "stock":
        return gettext("stock voice {name} (never deployed)").format(name=name)
    return gettext("deployed") if kind == "deployed" else source
