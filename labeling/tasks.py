"""Celery tasks of the labeling app: thin wrappers around the services, and the queueing of them."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import timedelta

from celery import shared_task
from celery.signals import worker_init, worker_ready
from django.conf import settings
from kombu.exceptions import OperationalError

from labeling import selectors
from labeling.models import Recording
from labeling.services.takes import mark_queued, validate_take
from voicelab.engine.quality import warm_up

log = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def validate_recording(recording_id: int) -> str:
    """Validate one take. Idempotent: a take already validated (a repeated delivery, or
    one the sweep queued again) keeps its stored result."""
    recording = Recording.objects.select_related("sentence").filter(pk=recording_id).first()
    if recording is None:
        return "missing"
    if recording.status != Recording.Status.PENDING:
        return recording.status
    return validate_take(recording=recording).status


def queue_validation(recording_id: int) -> bool:
    """Put the take's validation on the queue; False when the queue cannot be reached now
    (the take stays pending and the sweep queues it once the queue is back)."""
    try:
        validate_recording.delay(recording_id)
    except OperationalError as exc:
        log.warning("Take %s saved, but its validation could not be queued: %s", recording_id, exc)
        return False
    mark_queued(recording_ids=[recording_id])
    return True


def queue_validations(recording_ids: Iterable[int]) -> int:
    """``queue_validation`` of each take; how many are on the queue now."""
    return sum(queue_validation(pk) for pk in recording_ids)


@shared_task(ignore_result=True)
def queue_pending_takes() -> int:
    """The sweep: queue every take left pending (never queued, or its worker died)."""
    stale_after = timedelta(seconds=settings.VOICELAB_PENDING_REQUEUE_SECONDS)
    queued = queue_validations(selectors.takes_to_queue(stale_after=stale_after))
    if queued:
        log.warning("Queued the validation of %d pending take(s) again.", queued)
    return queued


@worker_ready.connect
def queue_pending_takes_on_start(sender: object = None, **kwargs: object) -> None:
    """A worker that starts picks up what waited while no worker ran."""
    queue_pending_takes.delay()


@worker_init.connect
def warm_up_validation(sender: object = None, **kwargs: object) -> None:
    """Load and compile what validating a take needs before the worker takes work, in the main
    process, so the pool processes forked from it start warm: the first take of the day is
    validated in about a second instead of waiting half a minute for numba (measured 20 s on
    a cold cache here, 43 s in a fresh lab). Takes that arrive meanwhile wait "queued"."""
    started = time.monotonic()
    warm_up()
    log.info("Validation warmed up in %.1f s.", time.monotonic() - started)
