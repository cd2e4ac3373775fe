"""A real Celery worker process validates takes queued on the embedded Redis."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Max

from labeling.models import Recording
from labeling.services.takes import add_take
from labeling.tasks import queue_validation, validate_recording

from .lab import sentence, wait_for_validation
from .processes import LabProcess

pytestmark = pytest.mark.django_db(transaction=True)

UploadFactory = Callable[..., SimpleUploadedFile]


@pytest.fixture
def queue_take(
    celery_worker: LabProcess, label: Callable[[str, str], object], lab_annotator: User, wav_upload: UploadFactory
) -> Callable[[str, str], Recording]:
    """``queue_take(sentence_id, style)``: label the sentence and add an espeak take, queued for the worker."""

    def make(sentence_id: str, style: str) -> Recording:
        label(sentence_id, style)
        take = add_take(sentence=sentence(sentence_id), upload=wav_upload(), user=lab_annotator)
        assert take.status == Recording.Status.PENDING
        assert queue_validation(take.pk)
        return take

    return make


def test_worker_validates_and_promotes_a_take(queue_take: Callable[[str, str], Recording], e2e_media: Path) -> None:
    take = queue_take("shcc-01", "amable")
    export = e2e_media / take.export_path
    assert not export.exists()

    take = wait_for_validation(take.pk)

    assert take.status == Recording.Status.VALID, (take.error, take.findings)
    assert take.quality_score is not None and 0 < take.quality_score <= 1
    assert take.grade and take.validated_at is not None
    assert take.prosody, "the prosody report is stored"
    assert sentence("shcc-01").active_take_id == take.pk
    assert export.read_bytes() == Path(take.audio.path).read_bytes()


def test_task_for_a_missing_take_returns_and_the_worker_goes_on(
    celery_worker: LabProcess, queue_take: Callable[[str, str], Recording]
) -> None:
    missing = (Recording.objects.aggregate(last=Max("pk"))["last"] or 0) + 1000
    # The task stores no result normally; ask for this one's to see what it returned.
    result = validate_recording.apply_async(args=[missing], ignore_result=False)
    assert result.get(timeout=120) == "missing"

    take = wait_for_validation(queue_take("shcc-02", "amable").pk)

    assert take.status == Recording.Status.VALID, (take.error, take.findings)
    celery_worker.assert_alive()
