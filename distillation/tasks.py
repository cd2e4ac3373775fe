"""Celery tasks of a distillation run: thin wrappers around ``services.execution``, and the
queueing of the jobs the services return (``schedule``).

A walk runs for hours, longer than any broker visibility timeout, so no task here waits
on its message for safety: each is acknowledged when it starts, and the work holds a
lease in the database that its worker renews while it runs. When a worker dies, its
lease runs out; the recovery (when a worker starts, and every ``VOICELAB_SWEEP_SECONDS``
from celery beat) marks its walks interrupted and queues them again to resume from
their checkpoints, and queues again a Stage 1 or 3 that lost its worker. The services
make a repeated task harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import partial

from celery import Task, shared_task
from celery.signals import worker_ready
from django.db import transaction
from kombu.exceptions import OperationalError

from distillation.services import execution
from distillation.services.jobs import Job, Kind

log = logging.getLogger(__name__)

# A walk held by a live lease elsewhere is retried once that lease could have expired.
BUSY_RETRY_SECONDS = int(execution.LEASE.total_seconds()) + 5
BUSY_RETRIES = 10


def _worker(task: Task) -> str:
    return task.request.hostname or "worker"


@shared_task(bind=True, acks_late=False, ignore_result=True)
def prepare_run(self: Task, run_id: int) -> None:
    """Stage 1, then one ``evolve_style`` task per style."""
    schedule(execution.prepare(run_id=run_id, worker=_worker(self)))


@shared_task(bind=True, acks_late=False, ignore_result=True, max_retries=BUSY_RETRIES)
def evolve_style(self: Task, style_run_id: int) -> None:
    """Stage 2 for one style, resuming from its checkpoint when it has one; then Stage 3
    if it was the run's last walk."""
    try:
        jobs = execution.evolve(style_run_id=style_run_id, worker=_worker(self))
    except execution.WalkBusy:
        raise self.retry(countdown=BUSY_RETRY_SECONDS) from None
    schedule(jobs)


@shared_task(bind=True, acks_late=False, ignore_result=True)
def validate_run(self: Task, run_id: int) -> None:
    """Stage 3, once every walk of the run has ended."""
    execution.validate(run_id=run_id, worker=_worker(self))


TASKS: dict[Kind, Task] = {Kind.PREPARE: prepare_run, Kind.WALK: evolve_style, Kind.VALIDATE: validate_run}


def schedule(jobs: Iterable[Job]) -> None:
    """Queue the jobs once the current transaction commits (at once outside one)."""
    jobs = list(jobs)
    if jobs:
        transaction.on_commit(partial(_queue_all, jobs))


def _queue_all(jobs: list[Job]) -> None:
    for job in jobs:
        queue(job)


def queue(job: Job) -> bool:
    """Put one job on the queue; False when the queue cannot be reached now (the recovery
    queues a run's Stage 1 or 3 again once it is back)."""
    task = TASKS[job.kind]
    try:
        task.delay(job.pk)
    except OperationalError as exc:
        log.warning("Could not queue %s %s: %s", task.name, job.pk, exc)
        return False
    if job.kind is not Kind.WALK:
        execution.mark_stage_queued(run_id=job.pk)
    return True


def _recover(worker: str | None) -> None:
    jobs = execution.interrupt_orphans(worker=worker)
    if jobs:
        log.warning("Recovered %d walk(s) or stage(s) that lost their worker; queued again.", len(jobs))
    schedule(jobs)


@shared_task(ignore_result=True)
def recover_orphans() -> None:
    """The periodic sweep: what workers that died left behind, queued again."""
    _recover(None)


@worker_ready.connect
def resume_interrupted_walks(sender: object = None, **kwargs: object) -> None:
    """On start, pick up what a dead worker left (this one's included)."""
    _recover(getattr(sender, "hostname", None))
