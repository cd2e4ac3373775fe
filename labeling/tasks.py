"""Celery tasks of the labeling app: thin wrappers around the services."""

from __future__ import annotations

from celery import shared_task

from labeling.models import Recording
from labeling.services.takes import validate_take


@shared_task(acks_late=True, ignore_result=True)
def validate_recording(recording_id: int) -> str:
    """Validate one take. Idempotent: running it twice gives the same stored result."""
    recording = Recording.objects.select_related("sentence").filter(pk=recording_id).first()
    if recording is None:
        return "missing"
    return validate_take(recording=recording).status
