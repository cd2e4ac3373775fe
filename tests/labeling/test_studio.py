"""What the recording studio shows of a take: its outline with the trimmed silence, its pace
against the speaker's neutral takes, every take playable with its reasons, and the truthful
"queued / validating" states; the validation worker's warm-up."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from celery.signals import worker_init
from django.test import Client
from django.utils import translation

from labeling.models import Recording, Sentence
from labeling.tasks import warm_up_validation
from labeling.templatetags.takes import take_pace
from voicelab.engine.audio import waveform_peaks

pytestmark = pytest.mark.django_db

Take = Callable[..., Recording]
CELL_URL = "/labeling/sentences/shcc-01/take-cell/"


def cell(client: Client) -> str:
    return client.get(CELL_URL).content.decode()


def test_peaks_follow_the_loudness_relative_to_the_loudest() -> None:
    quiet_then_loud = np.concatenate([np.full(1000, 0.01), np.full(1000, 0.5)]).astype(np.float32)
    peaks = waveform_peaks(quiet_then_loud, bins=4)
    assert peaks == [0.02, 0.02, 1.0, 1.0]
    assert waveform_peaks(np.zeros(10, dtype=np.float32), bins=4) == [0.0] * 4
    assert len(waveform_peaks(np.ones(3, dtype=np.float32), bins=160)) == 3
    assert waveform_peaks(np.zeros(0, dtype=np.float32)) == []


def test_a_take_is_drawn_with_its_leading_silence_marked_as_trimmed(
    labeled_greeting: Sentence,
    validated: Take,
    annotator_client: Client,
    espeak_wav: Callable[..., Path],
    signal_wav: Callable[..., Path],
) -> None:
    import soundfile as sf

    speech, rate = sf.read(espeak_wav(), dtype="float32")
    padded = np.concatenate([np.zeros(rate * 2, dtype=np.float32), speech])  # 2 s of silence first
    take = validated(labeled_greeting, signal_wav(padded, rate))

    assert len(take.waveform) == 160 and max(take.waveform) == 1.0
    assert take.signal["leading_silence"] > 1.5
    svg = re.search(r'<svg class="waveform".*?</svg>', cell(annotator_client), re.S)
    assert svg is not None
    trimmed = re.search(r'<rect class="trimmed" x="0" y="0" width="([\d.]+)"', svg.group(0))
    assert trimmed is not None
    share = float(trimmed.group(1)) / 160  # the shaded part of the drawing, as a share of it
    assert share == pytest.approx(take.signal["leading_silence"] / take.duration_seconds, abs=0.01)
    assert "of silence before the speech (trimmed)" in svg.group(0)


def test_pace_is_measured_against_the_speakers_neutral_takes_and_said_in_their_terms(
    labeled_greeting: Sentence, validated: Take, annotator_client: Client, espeak_wav: Callable[..., Path]
) -> None:
    first = validated(labeled_greeting, espeak_wav(), style="neutral")
    assert first.pace is None  # no neutral takes before it: nothing to compare with

    fast = validated(labeled_greeting, espeak_wav(speed=260), style="neutral")

    assert fast.pace is not None and fast.pace > 1.2
    percent = round((fast.pace - 1) * 100)
    assert f"{percent}\u00a0% faster than your neutral takes." in cell(annotator_client)
    with translation.override("es"):
        assert take_pace(fast) == f"Un {percent}\u00a0% más rápido que tus tomas neutras."
        fast.pace = 0.8
        assert take_pace(fast) == "Un 20\u00a0% más lento que tus tomas neutras."
        fast.pace = 1.02
        assert take_pace(fast) == "Al ritmo de tus tomas neutras."


def test_a_rejected_take_stays_playable_beside_the_valid_one_with_its_reasons(
    labeled_greeting: Sentence,
    validated: Take,
    annotator_client: Client,
    espeak_wav: Callable[..., Path],
    silence_wav: Callable[[float], Path],
) -> None:
    good = validated(labeled_greeting, espeak_wav())
    silent = validated(labeled_greeting, silence_wav(2.0))
    assert silent.status == Recording.Status.REJECTED

    html = cell(annotator_client)

    assert f'src="/labeling/takes/{good.pk}/audio/"' in html
    latest = html[html.index('class="latest-take"') :]
    assert f'<audio class="latest-audio" controls preload="none" src="/labeling/takes/{silent.pk}/audio/">' in latest
    assert 'data-take-status="rejected"' in latest and "no speech" in latest.lower()
    assert 'data-latest-status="rejected"' in html
    assert "data-needs-take" not in html  # the valid take in its style still counts


def test_a_pending_take_says_whether_it_waits_in_the_queue_or_is_being_validated(
    labeled_greeting: Sentence, add: Take, annotator_client: Client, espeak_wav: Callable[..., Path]
) -> None:
    take = add(labeled_greeting, espeak_wav())
    assert "waiting for the validation queue" in cell(annotator_client)

    Recording.objects.filter(pk=take.pk).update(queued_at=take.created_at)
    html = cell(annotator_client)
    assert "queued for validation" in html and "validating…" not in html
    assert "data-needs-take" in html and 'data-latest-status="pending"' in html

    Recording.objects.filter(pk=take.pk).update(validation_attempts=1)  # a worker has started it
    assert "validating…" in cell(annotator_client)


def test_the_validation_worker_warms_up_before_it_takes_work() -> None:
    assert warm_up_validation in [receiver() for _, receiver in worker_init.receivers]
    warm_up_validation()  # the real assessment of a synthetic take, as the worker runs it
