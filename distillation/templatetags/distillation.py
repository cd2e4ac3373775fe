"""Template filters of the operators' pages."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django import template
from django.conf import settings
from django.utils.translation import gettext

from voicelab.engine.evolution import PHASE_NAMES

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
def phase_label(phase: str) -> str:
    """A walk's stored phase ("choosing a start voice 4/12") in the reader's language."""
    name, _, progress = phase.rpartition(" ")
    return f"{gettext(name)} {progress}" if name in PHASE_NAMES else phase


@register.filter
def lab_path(path: str) -> str:
    """A file the TTS service names, relative to the lab's data folder when it lies there (a
    service on another machine names its own files, shown as they are)."""
    try:
        return str(Path(path).relative_to(settings.DATA_DIR))
    except ValueError:
        return path


@register.filter
def never_deployed(styles: dict[str, dict]) -> list[str]:
    """The styles of the service's voice list that a stock voice stands in for."""
    return [style for style, voice in styles.items() if voice.get("source", "").startswith("stock:")]


@register.filter
def voice_source(source: str) -> str:
    """What backs a style in the TTS service, as the service names it (``deployed``,
    ``stock:ef_dora``), in the reader's words."""
    kind, _, name = source.partition(":")
    if kind == "stock":
        return gettext("stock voice {name} (never deployed)").format(name=name)
    return gettext("deployed") if kind == "deployed" else source
