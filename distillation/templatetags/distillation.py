"""Template filters of the operators' pages."""

from __future__ import annotations

from datetime import timedelta

from django import template

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
