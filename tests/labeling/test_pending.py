"""What the sweep queues again, and a take whose validation keeps killing its worker."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone, translation

from labeling import selectors
from labeling.models import Recording, Sentence
from labeling.services.takes import KILLED_THE_WORKER, MAX_VALIDATION_ATTEMPTS, mark_queued, validate_take
from voicelab.i18n import translated

pytestmark = pytest.mark.django_db


def test_the_sweep_takes_pending_takes_never_queued_or_queued_long_ago(
    labeled_greeting: Sentence, add: Callable[..., Recording], espeak_wav: Callable[..., Path]
) -> None:
    never, stale, fresh, done = (add(labeled_greeting, espeak_wav()) for _ in range(4))
    mark_queued(recording_ids=[stale.pk, fresh.pk, done.pk])
    Recording.objects.filter(pk=stale.pk).update(queued_at=timezone.now() - timedelta(minutes=10))
    Recording.objects.filter(pk=done.pk).update(status=Recording.Status.VALID)
    assert sorted(selectors.takes_to_queue(stale_after=timedelta(minutes=3))) == sorted([never.pk, stale.pk])


def test_a_take_whose_validation_kills_the_worker_is_failed_after_the_last_attempt(
    labeled_greeting: Sentence, add: Callable[..., Recording], espeak_wav: Callable[..., Path]
) -> None:
    take = add(labeled_greeting, espeak_wav())
    # Each earlier delivery started and never finished: its worker died in it.
    Recording.objects.filter(pk=take.pk).update(validation_attempts=MAX_VALIDATION_ATTEMPTS)
    take = validate_take(recording=Recording.objects.select_related("sentence").get(pk=take.pk))
    assert take.status == Recording.Status.FAILED
    assert take.error == KILLED_THE_WORKER
    assert Sentence.objects.get(pk=labeled_greeting.pk).active_take_id is None
    with translation.override("es"):  # stored in English, shown in the reader's language
        assert translated(take.error).startswith("Validar esta toma detuvo el proceso de validación")
