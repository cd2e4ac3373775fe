"""Signal checks, style checks against the speaker's neutral takes, and the 0-1 score."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import fields, replace

import numpy as np
import pytest

from voicelab.engine import quality
from voicelab.engine.audio import Audio, resample
from voicelab.engine.config import STYLE_NAMES, UnknownStyleError, get_style
from voicelab.engine.messages import Message
from voicelab.engine.prosody import Prosody, analyze_prosody
from voicelab.engine.quality import (
    assess_take,
    check_signal,
    compare_to_style,
    speaker_baseline,
)

Speaker = Callable[..., Audio]
Wrap = Callable[[np.ndarray, int], Audio]

NEUTRAL_SENTENCES = (
    "Buenos días, gracias por llamar a nuestro servicio.",
    "Su número de cliente es el cuatro cinco siete.",
    "La factura llegará en los próximos tres días.",
)
APOLOGY = "Lamento mucho las molestias, vamos a resolverlo."
CONFIRMATION = "Su solicitud ha sido confirmada correctamente."

# A speaker's neutral profile, for rule checks on hand-made numbers.
BASELINE = Prosody(
    pitch_mean=200.0,
    pitch_std=2.0,
    pitch_end_slope=-4.0,
    energy_mean_db=-20.0,
    energy_std=0.05,
    loudness_lufs=-20.0,
    speech_rate=5.0,
    pause_ratio=0.1,
    speech_seconds=3.0,
)


def codes(findings: list[quality.Finding]) -> set[str]:
    return {finding.code for finding in findings}


@pytest.fixture(scope="module")
def neutral_baseline(speak: Speaker) -> Prosody:
    """The espeak speaker's median over three neutral sentences."""
    takes = [(speak(text), text) for text in NEUTRAL_SENTENCES]
    return speaker_baseline([analyze_prosody(a.samples, a.sample_rate, text=text) for a, text in takes])


def test_clean_take_is_green_and_usable(greeting: Audio, greeting_text: str) -> None:
    assessment = assess_take(greeting, text=greeting_text, style="neutral", baseline=None)
    assert (assessment.score, assessment.grade, assessment.usable) == (1.0, "green", True)
    assert codes(assessment.findings) == {"no_baseline"}
    assert assessment.signal.snr_db > 40
    assert assessment.prosody is not None
    json.dumps(assessment.as_dict())


def test_silence_at_both_ends_is_reported(greeting: Audio, as_audio: Wrap) -> None:
    pad = np.zeros(2 * greeting.sample_rate)
    signal, findings = check_signal(as_audio(np.concatenate([pad, greeting.samples, pad]), greeting.sample_rate))
    assert codes(findings) == {"leading_silence", "trailing_silence"}
    assert signal.leading_silence == pytest.approx(2.0, abs=0.05)
    assert signal.trailing_silence > 2.0  # plus espeak's own trailing silence
    assert not any(finding.fatal for finding in findings)


def test_clipping_up_to_the_fatal_ratio_is_scored(greeting: Audio, as_audio: Wrap) -> None:
    clipped = np.clip(greeting.samples * 5, -1, 1)
    signal, findings = check_signal(as_audio(clipped, greeting.sample_rate))
    (clipping,) = [finding for finding in findings if finding.code == "clipping"]
    assert quality.MAX_CLIPPING_RATIO < signal.clipping_ratio < quality.MAX_CLIPPING_RATIO_FATAL
    assert 0.1 < clipping.penalty <= quality.MAX_CLIPPING_PENALTY and not clipping.fatal
    assert f"{signal.clipping_ratio:.1%} of the samples are clipped" in str(clipping.message)


def test_heavy_clipping_makes_the_take_unusable(greeting: Audio, as_audio: Wrap) -> None:
    clipped = np.clip(greeting.samples * 20, -1, 1)
    assessment = assess_take(as_audio(clipped, greeting.sample_rate), text=None, style="neutral", baseline=None)
    (clipping,) = [finding for finding in assessment.findings if finding.code == "clipping"]
    assert assessment.signal.clipping_ratio > 0.2
    assert (clipping.fatal, clipping.penalty) == (True, quality.FATAL_PENALTY)
    assert f"{assessment.signal.clipping_ratio:.1%} of the samples are clipped" in str(clipping.message)
    assert "cannot be used" in str(clipping.message)
    assert (assessment.usable, assessment.score, assessment.prosody) == (False, 0.0, None)


def test_heavy_clipping_costs_more_than_light(greeting: Audio, as_audio: Wrap) -> None:
    def penalty(gain: float) -> float:
        _, findings = check_signal(as_audio(np.clip(greeting.samples * gain, -1, 1), greeting.sample_rate))
        return sum(finding.penalty for finding in findings)

    assert 0 < penalty(2) < penalty(20)


@pytest.mark.parametrize(("noise", "penalty"), [(0.01, quality.LOW_SNR_PENALTY), (0.05, quality.HEAVY_SNR_PENALTY)])
def test_white_noise_lowers_snr(greeting: Audio, as_audio: Wrap, noise: float, penalty: float) -> None:
    hiss = np.random.default_rng(0).normal(0, noise, len(greeting.samples))
    signal, findings = check_signal(as_audio(greeting.samples + hiss, greeting.sample_rate))
    assert quality.MIN_SNR_DB_FATAL < signal.snr_db < quality.MIN_SNR_DB
    assert [(finding.code, finding.penalty, finding.fatal) for finding in findings] == [("low_snr", penalty, False)]


def test_noise_as_loud_as_the_voice_makes_the_take_unusable(greeting: Audio, as_audio: Wrap) -> None:
    hiss = np.random.default_rng(0).normal(0, 0.2, len(greeting.samples))
    assessment = assess_take(
        as_audio(greeting.samples + hiss, greeting.sample_rate), text=None, style="neutral", baseline=None
    )
    assert assessment.signal.snr_db < quality.MIN_SNR_DB_FATAL
    (noise,) = [finding for finding in assessment.findings if finding.code == "low_snr"]
    assert (noise.fatal, noise.penalty) == (True, quality.FATAL_PENALTY)
    assert f"only {assessment.signal.snr_db:.0f} dB above the background noise" in str(noise.message)
    assert not assessment.usable


def test_half_second_take_is_too_short(greeting: Audio, greeting_text: str, as_audio: Wrap) -> None:
    take = as_audio(greeting.samples[: greeting.sample_rate // 2], greeting.sample_rate)
    assessment = assess_take(take, text=greeting_text, style="amable", baseline=None)
    assert "too_short" in {finding.code for finding in assessment.findings if finding.fatal}
    assert (assessment.score, assessment.grade, assessment.usable) == (0.0, "red", False)
    assert assessment.prosody is None
    stored = assessment.as_dict()["findings"][0]["message"]  # JSON: the template and its values
    assert "0.5 seconds" in str(Message.from_dict(stored)) and stored["values"]["seconds"] == 0.5


def test_digital_silence_is_fatal(as_audio: Wrap) -> None:
    assessment = assess_take(as_audio(np.zeros(32_000), 16_000), text=None, style="neutral", baseline=None)
    assert [(finding.code, finding.fatal) for finding in assessment.findings] == [("silent", True)]
    assert not assessment.usable


@pytest.mark.parametrize(("sample_rate", "fatal"), [(8_000, False), (6_000, True)])
def test_low_sample_rate(greeting: Audio, as_audio: Wrap, sample_rate: int, fatal: bool) -> None:
    take = as_audio(resample(greeting.samples, greeting.sample_rate, sample_rate), sample_rate)
    _, findings = check_signal(take)
    assert [(finding.code, finding.fatal) for finding in findings] == [("low_sample_rate", fatal)]
    assert f"{sample_rate} Hz" in str(findings[0].message)


def test_usable_take_can_still_be_red(greeting: Audio, as_audio: Wrap) -> None:
    hiss = np.random.default_rng(1).normal(0, 0.05, len(greeting.samples))
    take = as_audio(np.clip((greeting.samples + hiss) * 4, -1, 1), greeting.sample_rate)
    assessment = assess_take(take, text=None, style="neutral", baseline=None)
    assert codes(assessment.findings) == {"clipping", "low_snr", "no_baseline"}
    assert assessment.usable
    assert assessment.grade == "red"
    assert assessment.score == pytest.approx(
        1 - sum(finding.penalty for finding in assessment.findings),
        abs=1e-3,  # the score is rounded
    )


def test_higher_slower_amable_take_passes_pitch_and_rate(
    speak: Speaker, greeting_text: str, neutral_baseline: Prosody
) -> None:
    take = speak(pitch=75, speed=150)
    assessment = assess_take(take, text=greeting_text, style="amable", baseline=neutral_baseline)
    assert not codes(assessment.findings) & {"pitch_not_higher", "not_slower"}
    assert assessment.grade == "green"


def test_lower_amable_take_is_not_higher(speak: Speaker, greeting_text: str, neutral_baseline: Prosody) -> None:
    take = speak(pitch=25, speed=150)
    assessment = assess_take(take, text=greeting_text, style="amable", baseline=neutral_baseline)
    (finding,) = [finding for finding in assessment.findings if finding.code == "pitch_not_higher"]
    assert f"{assessment.prosody.pitch_mean:.0f} Hz" in str(finding.message)
    assert f"({neutral_baseline.pitch_mean:.0f} Hz)" in str(finding.message)
    assert 0.05 <= finding.penalty <= 0.15 and not finding.fatal


@pytest.mark.parametrize(
    ("style", "text", "voice", "missed"),
    [
        ("empatico", APOLOGY, {"amplitude": 50, "speed": 140}, set()),
        ("empatico", APOLOGY, {}, {"not_softer", "not_slower", "pauses_not_longer"}),
        ("profesional", CONFIRMATION, {"speed": 200}, set()),
        ("profesional", CONFIRMATION, {"amplitude": 50, "speed": 150}, {"not_firm", "not_faster"}),
    ],
    ids=["soft-slow-empatico", "plain-empatico", "fast-profesional", "soft-slow-profesional"],
)
def test_espeak_takes_against_their_style(
    speak: Speaker,
    neutral_baseline: Prosody,
    style: str,
    text: str,
    voice: dict[str, int],
    missed: set[str],
) -> None:
    take = speak(text, **voice)
    prosody = analyze_prosody(take.samples, take.sample_rate, text=text)
    assert codes(compare_to_style(prosody, style, neutral_baseline)) == missed


@pytest.mark.parametrize(
    ("style", "changes", "missed"),
    [
        ("amable", {"pitch_mean": 208.0, "speech_rate": 4.8, "pitch_end_slope": 1.0}, set()),
        (
            "amable",
            {"pitch_mean": 204.0, "speech_rate": 4.8, "pitch_end_slope": 1.0},
            {"pitch_not_higher"},
        ),
        (
            "amable",
            {"pitch_mean": 208.0, "speech_rate": 5.2, "pitch_end_slope": -1.0},
            {"not_slower", "no_rising_end"},
        ),
        ("empatico", {"energy_mean_db": -22.0, "pause_ratio": 0.2, "speech_rate": 4.8}, set()),
        (
            "empatico",
            {"energy_mean_db": -21.0, "pause_ratio": 0.1, "speech_rate": 4.9},
            {"not_softer", "pauses_not_longer", "not_slower"},
        ),
        ("profesional", {"energy_mean_db": -20.5, "speech_rate": 5.2}, set()),
        ("profesional", {"energy_mean_db": -21.5, "speech_rate": 5.1}, {"not_firm", "not_faster"}),
        ("neutral", {"pitch_std": 2.5, "speech_rate": 5.7}, set()),
        ("neutral", {"pitch_std": 2.7}, {"not_steady"}),
        ("neutral", {"speech_rate": 4.0}, {"not_steady"}),
    ],
)
def test_style_thresholds(style: str, changes: dict[str, float], missed: set[str]) -> None:
    findings = compare_to_style(replace(BASELINE, **changes), style, BASELINE)
    assert codes(findings) == missed
    assert all(0.05 <= finding.penalty <= 0.15 and not finding.fatal for finding in findings)


@pytest.mark.parametrize("style", STYLE_NAMES)
def test_every_style_has_rules_and_the_take_check_applies_each(style: str) -> None:
    """A take off in both directions (every trait halved, then doubled) misses each rule of the
    style once or more, and every finding is a message about that style's measurements."""
    spec = get_style(style)
    assert spec.rules
    assert {rule.feature for rule in spec.rules} <= {field.name for field in fields(Prosody)}
    findings = [
        finding
        for factor in (0.5, 2.0)
        for finding in compare_to_style(
            replace(BASELINE, **{field.name: getattr(BASELINE, field.name) * factor for field in fields(Prosody)}),
            style,
            BASELINE,
        )
    ]
    for rule in spec.rules:
        opening = rule.message.split("{")[0]  # the words before the first measurement
        assert any(f.code == rule.code and str(f.message).startswith(opening) for f in findings), rule
    assert all("{" not in str(f.message) and f"{spec.label} takes" in str(f.message) for f in findings)


def test_unmeasured_trait_is_not_held_against_the_speaker() -> None:
    unvoiced = replace(BASELINE, pitch_mean=None, pitch_std=None, pitch_end_slope=None, speech_rate=4.5)
    assert compare_to_style(unvoiced, "amable", BASELINE) == []


@pytest.mark.parametrize("style", STYLE_NAMES)
def test_without_neutral_takes_the_style_is_not_judged(style: str) -> None:
    (finding,) = compare_to_style(BASELINE, style, None)
    assert (finding.code, finding.penalty, finding.fatal) == ("no_baseline", 0.0, False)
    assert "neutral takes" in str(finding.message)


def test_unknown_style_raises(greeting: Audio, as_audio: Wrap) -> None:
    with pytest.raises(UnknownStyleError):
        compare_to_style(BASELINE, "enfadado", BASELINE)
    with pytest.raises(UnknownStyleError):  # even when the audio alone is unusable
        assess_take(as_audio(np.zeros(1_000), 16_000), text=None, style="enfadado", baseline=None)


def test_speaker_baseline_is_the_median_ignoring_gaps() -> None:
    takes = [
        replace(BASELINE, pitch_mean=100.0, pitch_end_slope=None),
        replace(BASELINE, pitch_mean=300.0, pitch_end_slope=None),
        replace(BASELINE, pitch_mean=120.0, pitch_end_slope=2.0),
    ]
    baseline = speaker_baseline(takes)
    assert baseline.pitch_mean == 120.0
    assert baseline.pitch_end_slope == 2.0
    assert baseline.speech_rate == BASELINE.speech_rate
    assert speaker_baseline([replace(BASELINE, pitch_mean=None)]).pitch_mean is None
    assert speaker_baseline([]) is None
