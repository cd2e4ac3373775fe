"""Running a launched run: Stage 1, one walk per style, then Stage 3. Called by the Celery tasks,
which queue the jobs each step returns (see ``services.jobs``).

Every entry point is idempotent, so a redelivered or repeated task does no harm:
finished work is skipped, a walk is claimed by one worker at a time (a lease its worker
renews while it runs), and a walk that is started again resumes from its checkpoint.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path

import torch
from django.conf import settings
from django.db import DatabaseError, close_old_connections, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from distillation.models import FINISHED, DistillationRun, Status, StyleRun, worker_lost
from distillation.services.jobs import Job
from distillation.services.live import StepRecorder, announce, broadcast
from distillation.services.material import build_references
from distillation.services.teacher import configured_teacher
from voicelab.engine.config import get_style
from voicelab.engine.errors import CLEAR_ERRORS
from voicelab.engine.evolution import Phase, StepEvent
from voicelab.engine.messages import Message, gettext_noop, message_of
from voicelab.engine.pipeline import Pipeline
from voicelab.engine.preview import ProsodyPreview

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
# A walk is given up on when its worker has died under it this many times.
MAX_WALK_ATTEMPTS = 3
RENEW_SECONDS = 15.0
PREVIEW_SECONDS = 10.0  # a rendering and two pitch tracks: not on every improvement
STAGE_FAILED = {
    DistillationRun.Stage.REFERENCE: gettext_noop("Stage 1: {problem}"),
    DistillationRun.Stage.VALIDATE: gettext_noop("Stage 3: {problem}"),
}


def _pipeline(run: DistillationRun) -> Pipeline:
    return Pipeline(run.pipeline_config(), settings.VOICELAB_MODELS_DIR)


def _problem(exc: Exception) -> Message:
    """What the operator reads of a failure: a clear error's own message; for a bug (not bad
    input) a line saying so, its traceback in the worker's log. Called while handling ``exc``."""
    if isinstance(exc, CLEAR_ERRORS):
        return message_of(exc)
    log.exception("Distillation step failed unexpectedly")
    return Message(
        "unexpected error ({kind}: {detail}); the worker's log has the details.",
        {"kind": type(exc).__name__, "detail": str(exc)},
    )


def _fail(run: DistillationRun, stage: str, exc: Exception) -> None:
    """End the run at ``stage`` with why, and every walk not finished with it."""
    error = Message(STAGE_FAILED[stage], {"problem": _problem(exc)}).as_dict()
    _end_stage(run, status=Status.FAILED, error=error, finished_at=timezone.now())
    run.style_runs.exclude(status__in=FINISHED).update(status=Status.FAILED, error=error)
    announce(run)


# ---- Stage 1 ------------------------------------------------------------------------------------


def claim_stage(*, run_id: int, stage: str, worker: str) -> DistillationRun | None:
    """Take the run's Stage 1 or Stage 3 for ``worker`` unless a live worker holds it, it is
    past that stage (a repeated task) or it is gone."""
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    taken = (
        DistillationRun.objects.filter(free, pk=run_id, stage=stage)
        .exclude(status__in=FINISHED)
        .update(worker=worker, lease_until=now + LEASE)
    )
    return DistillationRun.objects.get(pk=run_id) if taken else None


def _end_stage(run: DistillationRun, **fields: object) -> None:
    """Save the stage's outcome and give up its lease."""
    fields = {**fields, "lease_until": None, "worker": ""}
    for name, value in fields.items():
        setattr(run, name, value)
    run.save(update_fields=list(fields))


def prepare(*, run_id: int, worker: str) -> list[Job]:
    """Stage 1 for every style of the run; what comes next is one walk per style."""
    run = claim_stage(run_id=run_id, stage=DistillationRun.Stage.REFERENCE, worker=worker)
    if run is None:
        return []  # done already (a repeated task), running elsewhere, or gone
    if run.cancel_requested:
        _cancel_queued(run)
        return []
    run.status, run.started_at = Status.RUNNING, run.started_at or timezone.now()
    run.save(update_fields=["status", "started_at"])
    announce(run)
    try:
        with _lease(DistillationRun, run.pk, worker):
            teacher, clip = None, None
            if run.source == DistillationRun.Source.F5:
                teacher = configured_teacher(
                    reference_audio=run.reference_audio.path, reference_text=run.reference_text
                )
            elif run.source == DistillationRun.Source.CLIP:
                clip = Path(run.reference_audio.path)
            build_references(_pipeline(run), teacher=teacher, clip=clip)
    except Exception as exc:  # noqa: BLE001 - a bug is logged, and the run ends with a line saying so
        _fail(run, DistillationRun.Stage.REFERENCE, exc)
        return []
    _end_stage(run, stage=DistillationRun.Stage.EVOLVE)
    announce(run)
    return [Job.walk(pk) for pk in run.style_runs.values_list("pk", flat=True)]


# ---- Stage 2 ------------------------------------------------------------------------------------


class WalkBusy(Exception):
    """Another worker holds the walk under a live lease: try again once it could have expired."""


class Claim(Enum):
    CLAIMED = "claimed"
    DONE = "done"  # finished, cancelled or gone: nothing to do
    BUSY = "busy"  # another worker holds a live lease


def claim(*, style_run_id: int, worker: str) -> Claim:
    """Take the walk for ``worker``: queued, interrupted, or running under an expired lease."""
    now = timezone.now()
    claimable = Q(status__in=[Status.QUEUED, Status.INTERRUPTED]) | Q(status=Status.RUNNING, lease_until__lt=now)
    taken = StyleRun.objects.filter(claimable, pk=style_run_id, run__cancel_requested=False).update(
        status=Status.RUNNING,
        worker=worker,
        lease_until=now + LEASE,
        attempts=F("attempts") + 1,
        started_at=Coalesce("started_at", now),
        error=None,
    )
    if taken:
        return Claim.CLAIMED
    style_run = StyleRun.objects.select_related("run").filter(pk=style_run_id).first()
    if style_run is None or style_run.status in FINISHED:
        return Claim.DONE
    if style_run.run.cancel_requested:
        _finish_walk(style_run, Status.CANCELLED)
        return Claim.DONE
    return Claim.BUSY


@contextmanager
def _lease(model: type[DistillationRun] | type[StyleRun], pk: int, worker: str) -> Iterator[None]:
    """Renew a walk's or a stage's lease from a thread while it runs (the work itself may be
    busy for minutes without a step, e.g. in a walk's start-point search)."""
    stop = threading.Event()

    def renew() -> None:
        try:
            while not stop.wait(RENEW_SECONDS):
                try:
                    model.objects.filter(pk=pk, worker=worker).update(lease_until=timezone.now() + LEASE)
                except DatabaseError as exc:  # a busy database: the next renewal comes before the lease ends
                    log.warning("Could not renew the lease of %s %s: %s", model.__name__, pk, exc)
        finally:
            close_old_connections()

    thread = threading.Thread(target=renew, name=f"lease-{model.__name__}-{pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class _Watcher:
    """The walk's callbacks: record and send each step, refresh the preview, watch for a cancel."""

    def __init__(self, style_run: StyleRun, preview: ProsodyPreview) -> None:
        self.style_run, self.preview = style_run, preview
        self.recorder = StepRecorder(style_run)
        self.last_preview, self.unshown = 0.0, None
        self.stopped = False

    def on_step(self, event: StepEvent) -> None:
        self.recorder(event)

    def on_phase(self, phase: Phase) -> None:
        """Before step one: what the walk is doing, stored and told to the page."""
        text = f"{phase.name} {phase.done}/{phase.total}"
        StyleRun.objects.filter(pk=self.style_run.pk).update(phase=text)
        self.style_run.phase = text
        announce(self.style_run.run)

    def cancelled(self) -> bool:
        """Asked after every batch of candidates: the walk stops there, keeping its best voice."""
        self.recorder.flush()
        self.stopped = DistillationRun.objects.filter(pk=self.style_run.run_id, cancel_requested=True).exists()
        return self.stopped

    def on_best(self, voice: torch.Tensor) -> None:
        self.unshown = voice
        if time.monotonic() - self.last_preview >= PREVIEW_SECONDS:
            self.show()

    def show(self) -> None:
        if self.unshown is None or not self.preview.available:
            return
        data = {**self.preview(self.unshown), "step": self.style_run.step, "version": time.time_ns()}
        self.unshown, self.last_preview = None, time.monotonic()
        self.style_run.preview = data
        StyleRun.objects.filter(pk=self.style_run.pk).update(preview=data)
        broadcast(self.style_run.run_id, {"type": "run.preview", "style": self.style_run.style, "preview": data})


def evolve(*, style_run_id: int, worker: str) -> list[Job]:
    """Stage 2 for one style: walk (resuming from its checkpoint if there is one), then save.
    What comes next is Stage 3 once it was the run's last walk to end; ``WalkBusy`` when
    another worker holds the walk."""
    outcome = claim(style_run_id=style_run_id, worker=worker)
    if outcome is Claim.BUSY:
        raise WalkBusy(f"walk {style_run_id} is held by another worker")
    if outcome is Claim.DONE:
        return []
    style_run = StyleRun.objects.select_related("run").get(pk=style_run_id)
    run = style_run.run
    _update_run_status(run)
    try:
        with _lease(StyleRun, style_run.pk, style_run.worker), _pipeline(run).evolution() as evolution:
            preview = ProsodyPreview(run.paths, style_run.style, evolution.pool.synthesize_many)
            watcher = _Watcher(style_run, preview)
            state = evolution.run(
                style_run.style,
                resume=evolution.checkpoint(style_run.style).is_file(),
                on_step=watcher.on_step,
                on_best=watcher.on_best,
                on_phase=watcher.on_phase,
                should_stop=watcher.cancelled,
            )
            watcher.show()
    except Exception as exc:  # noqa: BLE001 - a bug is logged, and the walk ends with a line saying so
        style_run.error = _problem(exc).as_dict()
        return _finish_walk(style_run, Status.FAILED)
    style_run.start_score, style_run.origin = state.start_score, state.origin
    style_run.best_score, style_run.step = state.best_score.score, state.step
    return _finish_walk(style_run, Status.CANCELLED if watcher.stopped else Status.SUCCEEDED)


def _finish_walk(style_run: StyleRun, status: Status) -> list[Job]:
    style_run.status, style_run.finished_at, style_run.lease_until = status, timezone.now(), None
    style_run.save(
        update_fields=[
            "status",
            "finished_at",
            "lease_until",
            "step",
            "best_score",
            "start_score",
            "origin",
            "elapsed",
            "error",
        ]
    )
    return _update_run_status(style_run.run)


def status_from_walks(
    walks: Sequence[tuple[str, str, dict | None]], *, cancel_requested: bool
) -> tuple[Status, Message | None]:
    """A run's status from its walks' (status, style, error), and the error of a failed run:
    each failed style's. SUCCEEDED means every walk did: Stage 3 comes next."""
    statuses = {status for status, _, _ in walks}
    if not statuses <= set(FINISHED):
        return (Status.INTERRUPTED if Status.INTERRUPTED in statuses else Status.RUNNING), None
    if Status.FAILED in statuses:
        failed = [(style, error) for status, style, error in walks if status == Status.FAILED]
        each = {
            f"walk{i}": Message(
                "{style}: {problem}", {"style": get_style(style).label, "problem": _walk_problem(error)}
            )
            for i, (style, error) in enumerate(failed)
        }
        joined = "; ".join(f"{{{name}}}" for name in each)
        return Status.FAILED, Message(joined, each)
    if cancel_requested or Status.CANCELLED in statuses:
        return Status.CANCELLED, None
    return Status.SUCCEEDED, None


def _walk_problem(error: dict | None) -> Message:
    """A failed walk's stored error; one failed before errors were kept may have none."""
    return Message.from_dict(error) if error else Message("failed")


def _update_run_status(run: DistillationRun) -> list[Job]:
    """Save the run's status from its walks'; once every walk has succeeded, Stage 3 is next."""
    with transaction.atomic():
        run = DistillationRun.objects.select_for_update().get(pk=run.pk)
        if run.is_finished:
            return []
        walks = list(run.style_runs.values_list("status", "style", "error"))
        status, error = status_from_walks(walks, cancel_requested=run.cancel_requested)
        jobs = []
        if status == Status.SUCCEEDED:  # the run goes on, to Stage 3
            run.stage, run.queued_at = DistillationRun.Stage.VALIDATE, None
            jobs = [Job.validate(run.pk)]
        else:
            run.status = status
            if status in FINISHED:
                run.finished_at, run.error = timezone.now(), error.as_dict() if error else run.error
        run.save()
    announce(run)
    return jobs


def mark_stage_queued(*, run_id: int) -> None:
    DistillationRun.objects.filter(pk=run_id).update(queued_at=timezone.now())


def _cancel_queued(run: DistillationRun) -> None:
    run.style_runs.exclude(status__in=FINISHED).update(status=Status.CANCELLED, finished_at=timezone.now())
    run.status, run.finished_at = Status.CANCELLED, timezone.now()
    run.save(update_fields=["status", "finished_at"])
    announce(run)


# ---- Stage 3 ------------------------------------------------------------------------------------


def validate(*, run_id: int, worker: str) -> None:
    """Stage 3 over the run's evolved voices; the report is stored on the run."""
    run = claim_stage(run_id=run_id, stage=DistillationRun.Stage.VALIDATE, worker=worker)
    if run is None:
        return
    try:
        with _lease(DistillationRun, run.pk, worker):
            report = _pipeline(run).validate()
    except Exception as exc:  # noqa: BLE001 - a bug is logged, and the run ends with a line saying so
        return _fail(run, DistillationRun.Stage.VALIDATE, exc)
    _end_stage(
        run,
        report=report.as_dict(),
        stage=DistillationRun.Stage.DONE,
        status=Status.SUCCEEDED,
        finished_at=timezone.now(),
    )
    announce(run)


# ---- recovery -----------------------------------------------------------------------------------


def interrupt_orphans(*, worker: str | None = None) -> list[Job]:
    """Recover what dead workers left: those of ``worker`` (which has just started, so it
    runs nothing yet) and any whose lease has expired.

    Their walks are marked interrupted, to resume from their checkpoints; a walk whose
    worker died under it ``MAX_WALK_ATTEMPTS`` times is failed instead: the walk itself
    probably kills its worker, and resuming it again would only do so again. Stage 1 and
    Stage 3 tasks whose worker died, or that never reached the queue, are queued again:
    the jobs returned.
    """
    now = timezone.now()
    gone = worker_lost(now)
    if worker:
        gone |= Q(status=Status.RUNNING, worker=worker)
    orphans = list(StyleRun.objects.filter(gone).select_related("run"))
    jobs = []
    for style_run in orphans:
        log.warning(
            "Walk %s of run %s was interrupted (worker %s gone).", style_run.style, style_run.run_id, style_run.worker
        )
        if style_run.attempts >= MAX_WALK_ATTEMPTS:
            StyleRun.objects.filter(pk=style_run.pk).update(
                status=Status.FAILED,
                lease_until=None,
                finished_at=now,
                error=Message(
                    "its worker died {attempts} times in a row while walking it (last: {worker}); "
                    "not resumed again. The worker's log says how it died.",
                    {"attempts": style_run.attempts, "worker": style_run.worker},
                ).as_dict(),
            )
        else:
            StyleRun.objects.filter(pk=style_run.pk).update(status=Status.INTERRUPTED, lease_until=None)
            jobs.append(Job.walk(style_run.pk))
    for run in {style_run.run for style_run in orphans}:
        jobs += _update_run_status(run)
    return jobs + _stages_to_queue(now, worker)


def _stages_to_queue(now: datetime, worker: str | None) -> list[Job]:
    """Runs whose Stage 1 or 3 lost its worker (lease expired) or never reached the queue."""
    lost = Q(lease_until__lt=now) | Q(lease_until__isnull=True, queued_at__isnull=True)
    if worker:
        lost |= Q(worker=worker)
    runs = DistillationRun.objects.exclude(status__in=FINISHED).filter(lost)
    stages = dict(
        runs.filter(stage__in=[DistillationRun.Stage.REFERENCE, DistillationRun.Stage.VALIDATE]).values_list(
            "pk", "stage"
        )
    )
    DistillationRun.objects.filter(pk__in=stages).update(lease_until=None, worker="")
    return [
        Job.prepare(pk) if stage == DistillationRun.Stage.REFERENCE else Job.validate(pk)
        for pk, stage in stages.items()
    ]
