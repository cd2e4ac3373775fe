"""Each style's pace for the TTS service: how fast the speaker says it, against neutral.

The seed gives each style a fixed speed for its F5 teacher (``StyleSpec.f5_speed``: amable
0.95, empático 0.90, ...). Better is the speaker's own pace: syllables per second of speech
(``prosody``, counted from the transcript) on the style's Stage 1 reference, measured when the
reference is written (in the worker) and kept beside it, against the neutral reference's. The
deploy stage records it beside the voices (``pace.json``); the TTS service speaks each style at
it, and a request's ``speed`` multiplies it.
"""

from __future__ import annotations

from collections.abc import Mapping

from voicelab.engine.prosody import analyze_prosody
from voicelab.engine.reference import SAMPLE_RATE, Reference

# A measured pace outside this is more likely a reference problem than a way of speaking.
PACE_RANGE = (0.75, 1.3)


def speech_rate(reference: Reference) -> float | None:
    """Syllables per second of speech, or None without a transcript to count them from."""
    if not reference.transcript.strip():
        return None
    return analyze_prosody(reference.audio, SAMPLE_RATE, text=reference.transcript).speech_rate or None


def relative_pace(rates: Mapping[str, float]) -> dict[str, float]:
    """Each style's rate against ``neutral``'s; none without a neutral rate (nothing to compare
    against: the seed's speeds stand)."""
    neutral = rates.get("neutral")
    if not neutral:
        return {}
    low, high = PACE_RANGE
    return {style: round(min(max(rate / neutral, low), high), 3) for style, rate in rates.items()}
