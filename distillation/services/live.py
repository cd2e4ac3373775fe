"""The live stream of a run: sampled step history in the database, and messages to the run's group.

Every consumer of a walk (the websocket, the run pages, a page reloaded mid-run) reads
the same sampled history: a step is stored when it improved the best voice, when it
falls on the sampling grid (about ``HISTORY_POINTS`` points a walk, so a 10,000-step
run stays light for the browser), or when it is the last one. What is stored is sent,
after it is stored: a client that reads the history and then listens misses nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from distillation.models import DistillationRun, EvolutionStep, StyleRun
from voicelab.engine.evolution import StepEvent
from voicelab.i18n import translated

HISTORY_POINTS = 2000
FLUSH_SECONDS = 0.5  # at most two chart updates a second, however fast the walk


def run_group(run_id: int) -> str:
    return f"distillation.run.{run_id}"


def broadcast(run_id: int, message: dict) -> None:
    """Send ``message`` (its ``type`` names the consumer's handler) to the run's watchers."""
    async_to_sync(get_channel_layer().group_send)(run_group(run_id), message)


def style_state(style_run: StyleRun) -> dict:
    eta = style_run.eta
    return {
        "style": style_run.style,
        "status": style_run.status,
        "step": style_run.step,
        "steps": style_run.run.steps,
        "best_score": style_run.best_score,
        "start_score": style_run.start_score,
        "origin": style_run.origin,
        "elapsed": round(style_run.elapsed, 1),
        "eta_seconds": round(eta.total_seconds()) if eta else None,
        "error": style_run.error,
        "phase": style_run.phase,
    }


def run_state(run: DistillationRun) -> dict:
    return {
        "id": run.pk,
        "status": run.status,
        "stage": run.stage,
        "error": run.error,
        "cancel_requested": run.cancel_requested,
        "has_report": run.report is not None,
        "styles": [style_state(style_run) for style_run in run.style_runs.all()],
    }


def readable(state: dict) -> dict:
    """A run's or a walk's state (``run_state``, ``style_state``) with its errors in the
    active language, as its reader sees them."""
    readable_state = {**state, "error": translated(state["error"]) if state.get("error") else ""}
    if "styles" in state:
        readable_state["styles"] = [readable(style) for style in state["styles"]]
    return readable_state


def announce(run: DistillationRun) -> None:
    """Tell the run's watchers its status (and every style's) changed."""
    broadcast(run.pk, {"type": "run.status", "run": run_state(run)})


def sampled(step: int, *, steps: int, accepted: bool) -> bool:
    every = max(1, steps // HISTORY_POINTS)
    return accepted or step == 1 or step % every == 0 or step >= steps


class StepRecorder:
    """Collects a walk's step events; stores the sampled ones and sends them in batches."""

    def __init__(self, style_run: StyleRun) -> None:
        self.style_run = style_run
        self.steps = style_run.run.steps
        self.pending: list[StepEvent] = []
        self.last_flush = 0.0

    def __call__(self, event: StepEvent) -> None:
        self.pending.append(event)
        if event.accepted or event.step >= self.steps or time.monotonic() - self.last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        events, self.pending = self.pending, []
        kept = [e for e in events if sampled(e.step, steps=self.steps, accepted=e.accepted)]
        last = events[-1]
        with transaction.atomic():
            # ignore_conflicts: a resumed walk replays the steps after its checkpoint.
            EvolutionStep.objects.bulk_create(
                [EvolutionStep(style_run=self.style_run, **e.as_dict()) for e in kept], ignore_conflicts=True
            )
            StyleRun.objects.filter(pk=self.style_run.pk).update(
                step=last.step, best_score=last.best_score, elapsed=last.elapsed, phase=""
            )
        self.style_run.step, self.style_run.best_score, self.style_run.elapsed = (
            last.step,
            last.best_score,
            last.elapsed,
        )
        self.style_run.phase = ""
        self.last_flush = time.monotonic()
        broadcast(
            self.style_run.run_id,
            {
                "type": "run.steps",
                "style": self.style_run.style,
                "events": [e.as_dict() for e in kept],
                "progress": style_state(self.style_run),
            },
        )


def history(style_runs: Iterable[StyleRun]) -> dict[str, list[dict]]:
    """The stored (sampled) events of each walk, in step order."""
    events: dict[str, list[dict]] = {style_run.style: [] for style_run in style_runs}
    styles = {style_run.pk: style_run.style for style_run in style_runs}
    for record in EvolutionStep.objects.filter(style_run__in=list(styles)).order_by("style_run", "step"):
        events[styles[record.style_run_id]].append(record.as_event())
    return events
