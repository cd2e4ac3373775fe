"""No take is left pending forever: Redis down during an upload, a worker killed holding a take.

Nobody acts after the fault: the parts come back, and the sweep (celery beat) and the
worker's own start queue what was left.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable

import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from labeling.models import Recording
from labeling.services.takes import add_take
from labeling.tasks import queue_validation

from .conftest import Worker
from .lab import latest_take, sentence, wait_for_validation
from .processes import LabProcess, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

# Generous: after a fault the worker reconnects, and the sweep runs every 2 s.
RECOVERY_TIMEOUT = 180.0


def test_an_upload_while_redis_is_down_is_saved_and_validated_once_it_is_back(
    celery_worker: LabProcess,
    beat: LabProcess,
    session_redis,
    label: Callable[[str, str], object],
    lab_annotator: User,
    wav_upload: Callable[..., SimpleUploadedFile],
) -> None:
    label("shcc-02", "neutral")
    client = Client()
    client.force_login(lab_annotator)
    session_redis.stop()
    response = client.post(
        reverse("labeling:upload_take", args=["shcc-02"]), {"audio": wav_upload()}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 201, response.content
    notice = json.loads(response["HX-Trigger"])["voicelab:notice"]
    assert notice.startswith("Saved.") and "validated when it is back" in notice
    take = latest_take("shcc-02")
    assert take.status == Recording.Status.PENDING and take.queued_at is None
    assert "waiting for the validation queue" in response.content.decode()

    session_redis.start()
    take = wait_for_validation(take.pk, timeout=RECOVERY_TIMEOUT)
    assert take.status == Recording.Status.VALID, (take.error, take.findings)
    assert sentence("shcc-02").active_take_id == take.pk


def test_a_take_whose_worker_died_holding_it_is_validated_by_the_next_worker(
    labeling_worker: Worker,
    beat: LabProcess,
    label: Callable[[str, str], object],
    lab_annotator: User,
    wav_upload: Callable[..., SimpleUploadedFile],
) -> None:
    labeling_worker.ensure_running()
    labeling_worker.signal(signal.SIGSTOP)  # frozen: what it takes off the queue, it never acknowledges
    label("shcc-03", "neutral")
    take = add_take(sentence=sentence("shcc-03"), upload=wav_upload(), user=lab_annotator)
    assert queue_validation(take.pk)
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    # The frozen worker may already have popped it; either way it is in no worker's hands but that one.
    wait_until(lambda: broker.llen("celery") == 0 or broker.llen("celery"), timeout=10, what="the message queued")
    labeling_worker.kill()
    assert Recording.objects.get(pk=take.pk).status == Recording.Status.PENDING

    labeling_worker.start()  # as supervisord would
    take = wait_for_validation(take.pk, timeout=RECOVERY_TIMEOUT)
    assert take.status == Recording.Status.VALID, (take.error, take.findings)
