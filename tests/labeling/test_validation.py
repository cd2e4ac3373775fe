"""Validating takes (the worker's job, called synchronously): verdict, promotion and style checks."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest
import soundfile as sf

from distillation.services.material import labeled_clips
from labeling.models import Recording, Sentence
from labeling.services.takes import validate_take

pytestmark = pytest.mark.django_db

Take = Callable[..., Recording]
EXPORT = "recordings/shcc-01_amable.wav"


def codes(take: Recording) -> set[str]:
    return {finding["code"] for finding in take.findings}


def active_take(sentence: Sentence) -> Recording | None:
    return Sentence.objects.get(pk=sentence.pk).active_take


def test_clean_take_is_valid_and_becomes_the_active_take(
    labeled_greeting: Sentence, validated: Take, media_root: Path, espeak_wav: Callable[..., Path]
) -> None:
    take = validated(labeled_greeting, espeak_wav())

    assert take.status == Recording.Status.VALID and take.validated_at is not None
    assert take.grade in {"green", "amber"} and 0.0 <= take.quality_score <= 1.0
    assert isinstance(take.findings, list) and codes(take) == {"no_baseline"}
    assert {"pitch_mean", "energy_std", "speech_rate"} <= take.prosody.keys()
    assert take.prosody["pitch_mean"] > 50 and take.prosody["speech_rate"] > 1
    assert active_take(labeled_greeting) == take
    assert (media_root / EXPORT).read_bytes() == (media_root / take.audio.name).read_bytes()


def test_silent_take_is_rejected_and_the_active_take_stays(
    labeled_greeting: Sentence,
    validated: Take,
    media_root: Path,
    espeak_wav: Callable[..., Path],
    silence_wav: Callable[[float], Path],
) -> None:
    good = validated(labeled_greeting, espeak_wav())
    exported = (media_root / EXPORT).read_bytes()

    silent = validated(labeled_greeting, silence_wav(2.0))

    assert silent.status == Recording.Status.REJECTED and silent.quality_score == 0.0
    assert any(f["fatal"] and f["code"] == "silent" for f in silent.findings)
    assert active_take(labeled_greeting) == good
    assert (media_root / EXPORT).read_bytes() == exported


def test_a_second_good_take_replaces_the_active_one_and_keeps_the_first(
    labeled_greeting: Sentence, validated: Take, media_root: Path, espeak_wav: Callable[..., Path]
) -> None:
    first = validated(labeled_greeting, espeak_wav())
    first_bytes = (media_root / first.audio.name).read_bytes()

    second = validated(labeled_greeting, espeak_wav(pitch=60))

    assert second.take_number == 2 and active_take(labeled_greeting) == second
    assert (media_root / EXPORT).read_bytes() == (media_root / second.audio.name).read_bytes() != first_bytes
    assert (media_root / first.audio.name).read_bytes() == first_bytes


def test_a_half_second_take_is_too_short(
    labeled_greeting: Sentence, validated: Take, silence_wav: Callable[[float], Path]
) -> None:
    take = validated(labeled_greeting, silence_wav(0.5))
    assert take.status == Recording.Status.REJECTED
    assert "too_short" in codes(take)
    assert active_take(labeled_greeting) is None


def seven_bit_wav(wav: Path) -> Path:
    """``wav``'s 16-bit samples under a header claiming 7 bits, as a broken converter writes:
    libsndfile reads each byte as an 8-bit sample, i.e. loud, clipped noise with speech in it."""
    with sf.SoundFile(wav) as sound:
        rate, data = sound.samplerate, sound.read(dtype="int16").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate, 1, 7)  # PCM, mono, byte rate, block align, bits
    header = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data))
    broken = wav.with_name(f"7bit-{wav.name}")
    broken.write_bytes(b"RIFF" + struct.pack("<I", len(header) + len(data)) + header + data)
    return broken


def test_a_clipped_noisy_7_bit_take_is_rejected_and_never_material(
    labeled_greeting: Sentence, validated: Take, espeak_wav: Callable[..., Path]
) -> None:
    take = validated(labeled_greeting, seven_bit_wav(espeak_wav()))

    assert take.status == Recording.Status.REJECTED and take.quality_score == 0.0
    assert {f["code"] for f in take.findings if f["fatal"]} == {"clipping", "low_snr"}
    assert take.signal["clipping_ratio"] > 0.2 and take.signal["snr_db"] < 3
    assert active_take(labeled_greeting) is None
    assert labeled_clips(styles=("amable",)) == {"amable": []}


def test_missing_audio_fails_with_a_message(
    labeled_greeting: Sentence, add: Take, media_root: Path, espeak_wav: Callable[..., Path]
) -> None:
    take = add(labeled_greeting, espeak_wav())
    (media_root / take.audio.name).unlink()

    result = validate_take(recording=take)

    stored = Recording.objects.get(pk=take.pk)
    assert result.status == stored.status == Recording.Status.FAILED
    assert "could not be read" in stored.error
    assert active_take(labeled_greeting) is None


def test_without_neutral_takes_the_style_is_not_checked(
    labeled_greeting: Sentence, validated: Take, espeak_wav: Callable[..., Path]
) -> None:
    take = validated(labeled_greeting, espeak_wav(pitch=10))
    assert "no_baseline" in codes(take) and "pitch_not_higher" not in codes(take)


@pytest.mark.parametrize(("pitch", "not_higher"), [(80, False), (10, True)])
def test_style_is_judged_against_the_same_speakers_neutral_takes(
    labeled_greeting: Sentence, validated: Take, espeak_wav: Callable[..., Path], pitch: int, not_higher: bool
) -> None:
    neutral = validated(labeled_greeting, espeak_wav(pitch=20), style="neutral")
    assert neutral.status == Recording.Status.VALID

    amable = validated(labeled_greeting, espeak_wav(pitch=pitch), style="amable")

    assert "no_baseline" not in codes(amable)
    assert ("pitch_not_higher" in codes(amable)) is not_higher


def test_another_speakers_neutral_takes_are_no_baseline(
    labeled_greeting: Sentence, validated: Take, espeak_wav: Callable[..., Path]
) -> None:
    validated(labeled_greeting, espeak_wav(pitch=20), style="neutral", speaker="otra persona")
    amable = validated(labeled_greeting, espeak_wav(pitch=10), style="amable")
    assert amable.speaker == "ana" and "no_baseline" in codes(amable)


def test_validating_twice_gives_the_same_result(
    labeled_greeting: Sentence, validated: Take, espeak_wav: Callable[..., Path]
) -> None:
    take = validated(labeled_greeting, espeak_wav())
    again = validate_take(recording=Recording.objects.get(pk=take.pk))
    assert (again.status, again.quality_score, again.findings) == (take.status, take.quality_score, take.findings)
    assert active_take(labeled_greeting) == take


def test_validating_an_older_take_again_keeps_the_newer_take_active(
    labeled_greeting: Sentence, validated: Take, media_root: Path, espeak_wav: Callable[..., Path]
) -> None:
    first = validated(labeled_greeting, espeak_wav())
    second = validated(labeled_greeting, espeak_wav(pitch=60))

    validate_take(recording=Recording.objects.get(pk=first.pk))  # acks_late: the task may run again

    assert active_take(labeled_greeting) == second
    assert (media_root / EXPORT).read_bytes() == (media_root / second.audio.name).read_bytes()
