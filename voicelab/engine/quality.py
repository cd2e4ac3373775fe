"""Validation of a recorded take and its 0-1 quality score.

Two layers, as in the labeling methodology: the signal itself (long enough,
not clipped, not noisy) and the prosody against the style the sentence was
labeled with. Style is judged relative to the same speaker's neutral takes,
because absolute pitch or rate says more about the speaker than the style.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import librosa
import numpy as np

from voicelab.engine.audio import MIN_SAMPLE_RATE, MIN_SAMPLE_RATE_FATAL, Audio
from voicelab.engine.messages import Message, gettext_noop
from voicelab.engine.prosody import Prosody, analyze_prosody, speech_frames
from voicelab.engine.styles import get_style

# Below one second there is too little speech to score ("Duracion Minima Audio >= 1.0s").
MIN_DURATION_SECONDS = 1.0
# Rates below MIN_SAMPLE_RATE (see audio.py, which refuses files outside the plausible
# range) cost this much; below MIN_SAMPLE_RATE_FATAL the take is unusable.
LOW_SAMPLE_RATE_PENALTY = 0.1
# A sample this close to full scale was almost certainly cut off by the converter.
CLIPPING_LEVEL = 0.999
# A few clipped samples are inaudible; beyond 0.1% distortion starts to show.
MAX_CLIPPING_RATIO = 0.001
CLIPPING_PENALTY = 0.1  # at the limit...
CLIPPING_PENALTY_PER_RATIO = 10.0  # ...plus 0.1 for every further 1% of samples...
MAX_CLIPPING_PENALTY = 0.5  # ...up to this (reached at 4.1%)
# Beyond 5% of the samples nearly every voiced period has its peaks cut off: the distortion
# is heard throughout and the pitch and energy features measure it rather than the voice.
# Such a take would teach a voice the distortion, so it is refused, not just scored low.
MAX_CLIPPING_RATIO_FATAL = 0.05
# Edge silence is easy to trim, so it costs little, but it skews timing features.
MAX_EDGE_SILENCE_SECONDS = 1.0
EDGE_SILENCE_PENALTY = 0.1
# The share of frames taken as the noise floor when estimating SNR.
NOISE_FLOOR_QUANTILE = 0.1
MIN_SNR_DB = 20.0  # below this, noise is clearly audible under the voice
LOW_SNR_PENALTY = 0.15
MIN_SNR_DB_HEAVY = 10.0  # below this, noise competes with the voice
HEAVY_SNR_PENALTY = 0.4
# The estimate sets speech frames (voice plus noise) against the noise floor, so 3 dB means
# the voice carries no more power than the noise. Below that the noise dominates what every
# feature measures, and the take is refused (a mislabeled 7-bit WAV measures about 1 dB).
MIN_SNR_DB_FATAL = 3.0
FATAL_PENALTY = 1.0  # one fatal finding alone takes the score to 0
GREEN_MIN_SCORE = 0.8
AMBER_MIN_SCORE = 0.5


@dataclass(frozen=True)
class Finding:
    """One problem with a take, explained for the person who recorded it."""

    code: str  # stable identifier, e.g. "clipping"
    message: Message
    penalty: float  # how much it lowered the 0-1 score
    fatal: bool  # the take cannot be used at all


@dataclass(frozen=True)
class SignalReport:
    """Measurements of the raw signal, before any prosody."""

    duration: float  # seconds
    sample_rate: int
    channels: int
    peak: float  # dBFS
    clipping_ratio: float  # share of samples at full scale
    leading_silence: float  # seconds before the first speech
    trailing_silence: float  # seconds after the last speech
    noise_floor_db: float  # dBFS of the quietest frames
    snr_db: float | None  # speech over noise floor; None when no speech was found

    @property
    def has_speech(self) -> bool:
        return self.snr_db is not None


def check_signal(audio: Audio) -> tuple[SignalReport, list[Finding]]:
    """Measure the signal and list what is wrong with it."""
    report = _measure_signal(audio)
    findings = [check(report) for check in _SIGNAL_CHECKS]
    return report, [finding for finding in findings if finding is not None]


def _measure_signal(audio: Audio) -> SignalReport:
    energy = speech_frames(audio.samples, audio.sample_rate)
    span = energy.speech_span()
    quietest = np.sort(energy.rms)[: max(1, int(len(energy.rms) * NOISE_FLOOR_QUANTILE))]
    noise_floor_db = _rms_db(quietest)
    snr_db = _rms_db(energy.rms[energy.is_speech]) - noise_floor_db if span else None
    start, end = span or (audio.duration, audio.duration)  # a silent clip is all "leading"
    return SignalReport(
        duration=audio.duration,
        sample_rate=audio.sample_rate,
        channels=audio.channels,
        peak=_db(np.abs(audio.samples).max()),
        clipping_ratio=float(np.mean(np.abs(audio.samples) >= CLIPPING_LEVEL)),
        leading_silence=start,
        trailing_silence=max(0.0, audio.duration - end),
        noise_floor_db=noise_floor_db,
        snr_db=snr_db,
    )


def _db(amplitude: float) -> float:
    """dBFS of a linear amplitude, floored at -100 dB so silence stays a number."""
    return float(librosa.amplitude_to_db(amplitude, ref=1.0))


def _rms_db(frame_rms: np.ndarray) -> float:
    """dBFS of the combined power of several frames."""
    return _db(np.sqrt(np.mean(frame_rms**2)))


def _check_duration(report: SignalReport) -> Finding | None:
    if report.duration >= MIN_DURATION_SECONDS:
        return None
    return Finding(
        "too_short",
        Message(
            "The recording is {seconds:.1f} seconds long; it must be at least {minimum:.1f} second to be scored.",
            {"seconds": report.duration, "minimum": MIN_DURATION_SECONDS},
        ),
        FATAL_PENALTY,
        fatal=True,
    )


def _check_speech(report: SignalReport) -> Finding | None:
    if report.has_speech:
        return None
    return Finding(
        "silent",
        Message("No speech was found: the recording is silent or far too quiet."),
        FATAL_PENALTY,
        fatal=True,
    )


def _check_sample_rate(report: SignalReport) -> Finding | None:
    rate = report.sample_rate
    if rate >= MIN_SAMPLE_RATE:
        return None
    if rate < MIN_SAMPLE_RATE_FATAL:
        return Finding(
            "low_sample_rate",
            Message(
                "The sample rate is {rate} Hz, below the {minimum} Hz minimum; record again at {wanted} Hz or more.",
                {"rate": rate, "minimum": MIN_SAMPLE_RATE_FATAL, "wanted": MIN_SAMPLE_RATE},
            ),
            FATAL_PENALTY,
            fatal=True,
        )
    return Finding(
        "low_sample_rate",
        Message(
            "The sample rate is {rate} Hz (telephone quality); {wanted} Hz or more is recommended.",
            {"rate": rate, "wanted": MIN_SAMPLE_RATE},
        ),
        LOW_SAMPLE_RATE_PENALTY,
        fatal=False,
    )


def _check_clipping(report: SignalReport) -> Finding | None:
    ratio = report.clipping_ratio
    if ratio <= MAX_CLIPPING_RATIO:
        return None
    if ratio > MAX_CLIPPING_RATIO_FATAL:
        return Finding(
            "clipping",
            Message(
                "{ratio:.1%} of the samples are clipped (distorted because the recording level was too high); "
                "above {limit:.0%} the take cannot be used. Lower the microphone volume and record again.",
                {"ratio": ratio, "limit": MAX_CLIPPING_RATIO_FATAL},
            ),
            FATAL_PENALTY,
            fatal=True,
        )
    penalty = CLIPPING_PENALTY + CLIPPING_PENALTY_PER_RATIO * (ratio - MAX_CLIPPING_RATIO)
    return Finding(
        "clipping",
        Message(
            "{ratio:.1%} of the samples are clipped (distorted because the recording level was too high); "
            "lower the microphone volume and record again.",
            {"ratio": ratio},
        ),
        min(penalty, MAX_CLIPPING_PENALTY),
        fatal=False,
    )


def _check_leading_silence(report: SignalReport) -> Finding | None:
    where = gettext_noop(
        "There are {seconds:.1f} seconds of silence before the speech starts; keep it under {limit:.1f} second."
    )
    return _edge_silence("leading_silence", report.leading_silence, where, report)


def _check_trailing_silence(report: SignalReport) -> Finding | None:
    where = gettext_noop(
        "There are {seconds:.1f} seconds of silence after the speech ends; keep it under {limit:.1f} second."
    )
    return _edge_silence("trailing_silence", report.trailing_silence, where, report)


def _edge_silence(code: str, seconds: float, text: str, report: SignalReport) -> Finding | None:
    # A silent clip is reported once, as "silent", not as silence at both ends.
    if not report.has_speech or seconds <= MAX_EDGE_SILENCE_SECONDS:
        return None
    return Finding(
        code,
        Message(text, {"seconds": seconds, "limit": MAX_EDGE_SILENCE_SECONDS}),
        EDGE_SILENCE_PENALTY,
        fatal=False,
    )


def _check_noise(report: SignalReport) -> Finding | None:
    if report.snr_db is None or report.snr_db >= MIN_SNR_DB:
        return None
    if report.snr_db < MIN_SNR_DB_FATAL:
        return Finding(
            "low_snr",
            Message(
                "The voice is only {snr:.0f} dB above the background noise, which is about as loud as the voice "
                "itself, so the take cannot be used. Record in a quieter place.",
                {"snr": report.snr_db},
            ),
            FATAL_PENALTY,
            fatal=True,
        )
    penalty = HEAVY_SNR_PENALTY if report.snr_db < MIN_SNR_DB_HEAVY else LOW_SNR_PENALTY
    return Finding(
        "low_snr",
        Message(
            "Background noise is high: the voice is only {snr:.0f} dB above the noise ({wanted:.0f} dB or more "
            "is recommended). Record in a quieter place.",
            {"snr": report.snr_db, "wanted": MIN_SNR_DB},
        ),
        penalty,
        fatal=False,
    )


_SIGNAL_CHECKS: tuple[Callable[[SignalReport], Finding | None], ...] = (
    _check_duration,
    _check_speech,
    _check_sample_rate,
    _check_clipping,
    _check_leading_silence,
    _check_trailing_silence,
    _check_noise,
)


# How each feature reads in a message.
_FEATURE_FORMATS: dict[str, str] = {
    "pitch_mean": gettext_noop("{n:.0f} Hz"),
    "pitch_std": gettext_noop("{n:.1f} semitones"),
    "pitch_end_slope": gettext_noop("{n:+.1f} semitones per second"),
    "energy_mean_db": gettext_noop("{n:.1f} dB"),
    "speech_rate": gettext_noop("{n:.1f} syllables per second"),
    "pause_ratio": gettext_noop("{n:.0%}"),
}


def compare_to_style(prosody: Prosody, style: str, baseline: Prosody | None) -> list[Finding]:
    """Check a take against its labeled style, relative to the speaker's neutral baseline.

    A trait that could not be measured in the take or the baseline (for
    instance no voiced frames) is skipped rather than held against the speaker.
    """
    spec = get_style(style)
    if baseline is None:
        return [
            Finding(
                "no_baseline",
                Message(
                    "The style could not be checked yet: it is compared with neutral takes from the same speaker, "
                    "and there are none so far. Record a few neutral sentences first."
                ),
                0.0,
                fatal=False,
            )
        ]
    findings: list[Finding] = []
    for rule in spec.rules:
        value, base = getattr(prosody, rule.feature), getattr(baseline, rule.feature)
        if value is None or base is None or rule.passes(value, base):
            continue
        number = _FEATURE_FORMATS[rule.feature]
        values = {"value": Message(number, {"n": value}), "baseline": Message(number, {"n": base}), "style": spec.label}
        findings.append(Finding(rule.code, Message(rule.message, values), rule.penalty, fatal=False))
    return findings


def speaker_baseline(prosodies: Sequence[Prosody]) -> Prosody | None:
    """A speaker's typical neutral prosody: the median of each field, ignoring gaps."""
    if not prosodies:
        return None
    return Prosody(**{field.name: _median([getattr(p, field.name) for p in prosodies]) for field in fields(Prosody)})


def _median(values: list[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return float(statistics.median(present)) if present else None


@dataclass(frozen=True)
class Assessment:
    """The verdict on one take: a score, a traffic-light grade and the reasons."""

    score: float  # 0-1
    grade: str  # "green", "amber" or "red"
    usable: bool
    findings: list[Finding]
    signal: SignalReport
    prosody: Prosody | None  # None when the signal was already unusable
    # Speech rate over the speaker's neutral median (1.1: ten percent faster); None when
    # either was not measured.
    pace: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain values only, ready for JSON."""
        return {
            "score": self.score,
            "grade": self.grade,
            "usable": self.usable,
            "findings": [asdict(finding) for finding in self.findings],
            "signal": asdict(self.signal),
            "prosody": self.prosody.as_dict() if self.prosody else None,
            "pace": self.pace,
        }


def assess_take(audio: Audio, *, text: str | None, style: str, baseline: Prosody | None) -> Assessment:
    """Check the signal, then the style, and score the take."""
    get_style(style)  # a wrong style is a caller bug even when the audio is unusable
    signal, findings = check_signal(audio)
    if any(finding.fatal for finding in findings):
        return _verdict(findings, signal, None)
    prosody = analyze_prosody(audio.samples, audio.sample_rate, text=text)
    return _verdict(findings + compare_to_style(prosody, style, baseline), signal, prosody, _pace(prosody, baseline))


def _pace(prosody: Prosody, baseline: Prosody | None) -> float | None:
    rate, usual = prosody.speech_rate, baseline.speech_rate if baseline else None
    return round(rate / usual, 3) if rate and usual else None


def _verdict(
    findings: list[Finding], signal: SignalReport, prosody: Prosody | None, pace: float | None = None
) -> Assessment:
    usable = not any(finding.fatal for finding in findings)
    penalties = sum(finding.penalty for finding in findings)
    score = round(max(0.0, 1.0 - penalties), 3)
    return Assessment(score, _grade(score), usable, findings, signal, prosody, pace)


def warm_up() -> None:
    """Assess one synthetic take, so that what loads or compiles on first use (librosa's
    numba functions, parselmouth) is ready before the first real take arrives."""
    sample_rate = 16_000
    time = np.arange(int(1.5 * sample_rate)) / sample_rate
    voiced = 0.3 * np.sin(2 * np.pi * 150 * time) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * time))
    audio = Audio(voiced.astype(np.float32), sample_rate, 1, "WAV")
    assess_take(audio, text="Hola.", style="neutral", baseline=None)


def _grade(score: float) -> str:
    if score >= GREEN_MIN_SCORE:
        return "green"
    return "amber" if score >= AMBER_MIN_SCORE else "red"
