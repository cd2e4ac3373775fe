"""How a take is drawn and described in its row: its outline, and its pace in the annotator's terms."""

from __future__ import annotations

from dataclasses import dataclass

from django import template
from django.utils.translation import gettext as _

from labeling.models import Recording

register = template.Library()

HEIGHT = 40  # the drawing's units; the stylesheet sets its size on the page
# Within this much of the speaker's neutral rate a take is "at your usual pace": about what two
# readings of the same sentence differ by.
SAME_PACE = 0.05


@dataclass(frozen=True)
class Waveform:
    """An SVG outline: one vertical stroke per peak, the trimmed edge silence shaded."""

    width: int
    path: str
    lead: float  # width of the shaded start, in the drawing's units
    trail: float  # width of the shaded end
    lead_seconds: float
    trail_seconds: float

    @property
    def trail_x(self) -> float:
        return self.width - self.trail


@register.inclusion_tag("labeling/_waveform.html")
def take_waveform(take: Recording) -> dict[str, Waveform | None]:
    """The take's outline, with the silence validation found at its edges shaded."""
    peaks = take.waveform or []
    if not peaks or not take.duration_seconds:
        return {"waveform": None}
    middle = HEIGHT / 2
    path = "".join(f"M{i}.5 {middle - peak * middle:.1f}V{middle + peak * middle:.1f}" for i, peak in enumerate(peaks))
    per_second = len(peaks) / take.duration_seconds
    lead_seconds = take.signal.get("leading_silence", 0.0)
    trail_seconds = take.signal.get("trailing_silence", 0.0)
    return {
        "waveform": Waveform(
            width=len(peaks),
            path=path,
            lead=round(min(lead_seconds * per_second, len(peaks)), 1),
            trail=round(min(trail_seconds * per_second, len(peaks)), 1),
            lead_seconds=lead_seconds,
            trail_seconds=trail_seconds,
        ),
        "height": HEIGHT,
    }


@register.simple_tag
def take_pace(take: Recording) -> str:
    """The take's speech rate against the speaker's neutral takes, as a person would say it."""
    if take.pace is None:
        return ""
    if abs(take.pace - 1) < SAME_PACE:
        return _("At the pace of your neutral takes.")
    amount = f"{round(abs(take.pace - 1) * 100)}\u00a0%"  # "12 %": the space a Spanish reader expects, unbroken
    if take.pace > 1:
        return _("{amount} faster than your neutral takes.").format(amount=amount)
    return _("{amount} slower than your neutral takes.").format(amount=amount)
