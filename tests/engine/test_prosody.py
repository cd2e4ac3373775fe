"""Prosody features on synthetic voices (known answers) and espeak-ng speech (right order)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import numpy as np
import pytest

from voicelab.engine.audio import Audio
from voicelab.engine.prosody import analyze_prosody, count_syllables, speech_frames

Speaker = Callable[..., Audio]
ToneMaker = Callable[..., np.ndarray]

RATE = 16_000


@pytest.mark.parametrize(
    ("text", "syllables"),
    [
        ("ciudad", 2),  # iu: two weak vowels, one nucleus
        ("aéreo", 4),  # a-é and e-o: strong pairs are hiatus
        ("país", 2),  # stressed í breaks the diphthong
        ("reír", 2),
        ("guerra", 2),  # silent u in gue
        ("quiero", 2),  # silent u in qui, then the diphthong ie
        ("pingüino", 3),  # ü is pronounced
        ("agua", 2),  # gu before a: the u is a vowel
        ("averiguáis", 4),  # triphthong uái
        ("hoy", 1),  # final y is a vowel
        ("muy", 1),
        ("mayo", 2),  # y before a vowel is a consonant
        ("buenos días", 4),
        ("poeta", 3),
        ("Lección AÉREA", 6),  # case does not matter
        ("construí", 2),  # ui stays a diphthong even when stressed
        ("Buenos días, gracias por llamar a nuestro servicio.", 15),
        ("Llame al 900 123 456.", 3),  # digits are ignored
        ("", 0),
    ],
)
def test_count_syllables(text: str, syllables: int) -> None:
    assert count_syllables(text) == syllables


def test_pitch_of_a_synthetic_voice(voiced_tone: ToneMaker) -> None:
    prosody = analyze_prosody(voiced_tone(150), RATE)
    assert prosody.pitch_mean == pytest.approx(150, rel=0.02)
    assert prosody.pitch_std < 0.2
    assert abs(prosody.pitch_end_slope) < 0.5


@pytest.mark.parametrize(("start", "end"), [(120, 200), (200, 120)])
def test_end_slope_follows_the_glide(voiced_tone: ToneMaker, start: float, end: float) -> None:
    slope = analyze_prosody(voiced_tone(start, end), RATE).pitch_end_slope
    # A linear glide in Hz over 2 s; at the end that is 12*log2(200/120)/2 s ≈ 4.4 st/s.
    assert np.sign(slope) == np.sign(end - start)
    assert 2.5 < abs(slope) < 7


def test_end_slope_looks_only_at_the_end(voiced_tone: ToneMaker) -> None:
    # Falls over the first 3 s, rises over the last 1 s: a question-like ending.
    prosody = analyze_prosody(voiced_tone(220, 190, 160, 130, 170, seconds=4.0), RATE)
    assert prosody.pitch_end_slope > 3


def test_speech_frames_find_the_voice_between_silences(voiced_tone: ToneMaker) -> None:
    clip = np.concatenate([np.zeros(RATE), voiced_tone(150), np.zeros(RATE // 2)])
    start, end = speech_frames(clip, RATE).speech_span()
    assert start == pytest.approx(1.0, abs=0.03)
    assert end == pytest.approx(3.0, abs=0.03)


@pytest.mark.parametrize(("gap", "pause_ratio"), [(0.5, 0.5 / 2.5), (0.1, 0.0)])
def test_only_gaps_over_150_ms_count_as_pauses(voiced_tone: ToneMaker, gap: float, pause_ratio: float) -> None:
    tone = voiced_tone(150, seconds=1.0)
    clip = np.concatenate([tone, np.zeros(round(gap * RATE)), tone])
    prosody = analyze_prosody(clip, RATE)
    assert prosody.pause_ratio == pytest.approx(pause_ratio, abs=0.02)
    assert prosody.speech_seconds == pytest.approx(2 + gap, abs=0.03)


def test_digital_silence_has_no_features() -> None:
    prosody = analyze_prosody(np.zeros(2 * RATE, dtype=np.float32), RATE)
    assert prosody.speech_seconds == 0.0
    assert prosody.pitch_mean is None
    assert prosody.speech_rate is None
    assert prosody.loudness_lufs is None


def test_greeting_features_are_plausible(greeting: Audio, greeting_text: str) -> None:
    prosody = analyze_prosody(greeting.samples, greeting.sample_rate, text=greeting_text)
    assert 80 < prosody.pitch_mean < 130  # espeak's default Spanish male voice
    assert -30 < prosody.energy_mean_db < -15
    assert 0.01 < prosody.energy_std < 0.2  # the seed's example is 0.12
    assert -30 < prosody.loudness_lufs < -15
    assert prosody.speech_seconds == pytest.approx(greeting.duration, abs=0.4)
    json.dumps(prosody.as_dict())  # plain floats and None only


def test_louder_take_measures_louder(greeting: Audio) -> None:
    quiet = analyze_prosody(greeting.samples, greeting.sample_rate)
    loud = analyze_prosody(greeting.samples * 2, greeting.sample_rate)  # +6 dB
    assert loud.loudness_lufs - quiet.loudness_lufs == pytest.approx(6.02, abs=0.1)
    assert loud.energy_mean_db - quiet.energy_mean_db == pytest.approx(6.02, abs=0.1)


def test_loudness_needs_a_400_ms_block(voiced_tone: ToneMaker) -> None:
    assert analyze_prosody(voiced_tone(150, seconds=0.3), RATE).loudness_lufs is None


@pytest.mark.parametrize("use_text", [True, False], ids=["from-text", "from-peaks"])
def test_speech_rate_follows_espeak_speed(speak: Speaker, greeting_text: str, use_text: bool) -> None:
    text = greeting_text if use_text else None
    slow, fast = (speak(speed=speed) for speed in (120, 200))
    slow_rate = analyze_prosody(slow.samples, slow.sample_rate, text=text).speech_rate
    fast_rate = analyze_prosody(fast.samples, fast.sample_rate, text=text).speech_rate
    assert 2 < slow_rate < fast_rate < 9
    assert fast_rate / slow_rate > 1.25  # 200/120 words per minute, less some pause time


def test_syllable_peaks_match_the_text_count(greeting: Audio, greeting_text: str) -> None:
    from_text = analyze_prosody(greeting.samples, greeting.sample_rate, text=greeting_text)
    from_peaks = analyze_prosody(greeting.samples, greeting.sample_rate)
    assert from_peaks.speech_rate == pytest.approx(from_text.speech_rate, rel=0.2)


def test_pitch_follows_espeak_pitch(speak: Speaker) -> None:
    high, low = (speak(pitch=pitch) for pitch in (80, 20))
    high_pitch = analyze_prosody(high.samples, high.sample_rate).pitch_mean
    low_pitch = analyze_prosody(low.samples, low.sample_rate).pitch_mean
    assert high_pitch > 1.2 * low_pitch


def test_female_voice_is_higher(speak: Speaker, greeting: Audio) -> None:
    female = speak(voice="es+f3")
    assert (
        analyze_prosody(female.samples, female.sample_rate).pitch_mean
        > 1.5 * analyze_prosody(greeting.samples, greeting.sample_rate).pitch_mean
    )


def test_ten_seconds_analyse_in_under_100_ms(greeting: Audio) -> None:
    clip = np.tile(greeting.samples, 4)[: 10 * greeting.sample_rate]
    timings = []
    for _ in range(3):  # best of three, so a busy machine does not fail the test
        started = time.perf_counter()
        analyze_prosody(clip, greeting.sample_rate)
        timings.append(time.perf_counter() - started)
    assert min(timings) < 0.1
