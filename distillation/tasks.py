"""Celery tasks of a distillation run: thin wrappers around ``services.execution``.

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

from celery import Task, shared_task
from celery.signals import worker_ready
from kombu.exceptions import OperationalError

from distillation.services import execution

log = logging.getLogger(__name__)

# A walk held by a live lease elsewhere is retried once that lease could have expired.
BUSY_RETRY_SECONDS = int(execution.LEASE.total_seconds()) + 5
BUSY_RETRIES = 10


def _worker(task: Task) -> str:
    return task.request.hostname or "worker"


@shared_task(bind=True, acks_late=False, ignore_result=True)
def prepare_run(self: Task, run_id: int) -> None:
    """Stage 1, then one ``evolve_style`` task per style."""
    execution.prepare(run_id=run_id, worker=_worker(self), enqueue_walk=evolve_style.delay)


@shared_task(bind=True, acks_late=False, ignore_result=True, max_retries=BUSY_RETRIES)
def evolve_style(self: Task, style_run_id: int) -> str:
    """Stage 2 for one style, resuming from its checkpoint when it has one."""
    outcome = execution.evolve(style_run_id=style_run_id, worker=_worker(self))
    if outcome is execution.Claim.BUSY:
        raise self.retry(countdown=BUSY_RETRY_SECONDS)
    return outcome.value


@shared_task(bind=True, acks_late=False, ignore_result=True)
def validate_run(self: Task, run_id: int) -> None:
    """Stage 3, once every walk of the run has ended."""
    execution.validate(run_id=run_id, worker=_worker(self))


def queue_stage(task: Task, run_id: int) -> bool:
    """Queue a run's Stage 1 or 3 task; False when the queue cannot be reached now (the
    recovery queues it once the queue is back)."""
    try:
        task.delay(run_id)
    except OperationalError as exc:
        log.warning("Could not queue %s for run %s: %s", task.name, run_id, exc)
        return False
    execution.mark_stage_queued(run_id=run_id)
    return True


def _queue_recovered(recovered: execution.Recovered) -> None:
    for style_run_id in recovered.style_run_ids:
        evolve_style.delay(style_run_id)
    _queue_all(prepare_run, recovered.prepare_run_ids)
    _queue_all(validate_run, recovered.validate_run_ids)
    found = len(recovered.style_run_ids) + len(recovered.prepare_run_ids) + len(recovered.validate_run_ids)
    if found:
        log.warning("Recovered %d walk(s) or stage(s) that lost their worker; queued again.", found)


def _queue_all(task: Task, run_ids: Iterable[int]) -> None:
    for run_id in run_ids:
        queue_stage(task, run_id)


@shared_task(ignore_result=True)
def recover_orphans() -> None:
    """The periodic sweep: what workers that died left behind, queued again."""
    _queue_recovered(execution.interrupt_orphans())


@worker_ready.connect
def resume_interrupted_walks(sender: object = None, **kwargs: object) -> None:
    """On start, pick up what a dead worker left (this one's included)."""
    _queue_recovered(execution.interrupt_orphans(worker=getattr(sender, "hostname", None)))
