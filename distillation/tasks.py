"""Celery tasks of a distillation run: thin wrappers around ``services.execution``.

All three are ``acks_late``: a message is acknowledged only once its task has ended,
so a worker that dies mid-task leaves it to be delivered again; the services make a
second delivery harmless. A worker that starts marks the walks it was running before
it died as interrupted and queues them again: they resume from their checkpoints.
"""

from __future__ import annotations

import logging

from celery import Task, shared_task
from celery.signals import worker_ready

from distillation.services import execution

log = logging.getLogger(__name__)

# A walk held by a live lease elsewhere is retried once that lease could have expired.
BUSY_RETRY_SECONDS = int(execution.LEASE.total_seconds()) + 5
BUSY_RETRIES = 10


@shared_task(acks_late=True, ignore_result=True)
def prepare_run(run_id: int) -> None:
    """Stage 1, then one ``evolve_style`` task per style."""
    execution.prepare(run_id=run_id, enqueue_walk=evolve_style.delay)


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=BUSY_RETRIES)
def evolve_style(self: Task, style_run_id: int) -> str:
    """Stage 2 for one style, resuming from its checkpoint when it has one."""
    outcome = execution.evolve(style_run_id=style_run_id, worker=self.request.hostname or "worker")
    if outcome is execution.Claim.BUSY:
        raise self.retry(countdown=BUSY_RETRY_SECONDS)
    return outcome.value


@shared_task(acks_late=True, ignore_result=True)
def validate_run(run_id: int) -> None:
    """Stage 3, once every walk of the run has ended."""
    execution.validate(run_id=run_id)


@worker_ready.connect
def resume_interrupted_walks(sender: object = None, **kwargs: object) -> None:
    """On start, pick up the walks a dead worker left (this one's included)."""
    hostname = getattr(sender, "hostname", None)
    recovered = execution.interrupt_orphans(worker=hostname)
    for style_run_id in recovered.style_run_ids:
        evolve_style.delay(style_run_id)
    if recovered.style_run_ids:
        log.warning("Resuming %d interrupted walk(s) from their checkpoints.", len(recovered.style_run_ids))
