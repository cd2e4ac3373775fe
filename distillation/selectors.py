"""Read-side queries of the operators' pages."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import get_format
from django.utils.translation import gettext, gettext_noop

from distillation.checks import CHECK_TEXTS
from distillation.models import FINISHED, DistillationRun, Status, StyleRun, TTSApiKey
from distillation.services.runs import run_config
from distillation.services.tts_keys import lab_tts_client
from voicelab.engine.evolution import PHASE_NAMES, StepEvent
from voicelab.engine.tts_client import TTSUnavailable
from voicelab.engine.validation import ValidationReport
from voicelab.i18n import translated

RECENT_RUNS = 50


def recent_runs() -> list[DistillationRun]:
    """The latest runs with their walks, as they stand now (see ``as_seen``)."""
    runs = DistillationRun.objects.select_related("launched_by").prefetch_related("style_runs")[:RECENT_RUNS]
    return [as_seen(run) for run in runs]


def run_with_walks(pk: int) -> DistillationRun | None:
    run = DistillationRun.objects.select_related("launched_by").prefetch_related("style_runs").filter(pk=pk).first()
    return as_seen(run) if run else None


def as_seen(run: DistillationRun) -> DistillationRun:
    """The run with a walk whose worker is gone (lease expired) shown as interrupted, as the
    recovery will mark it, so it can be resumed from the page before then. Nothing is saved."""
    now = timezone.now()
    lost = [walk for walk in run.style_runs.all() if walk.has_lost_worker(now)]
    for walk in lost:
        walk.status = Status.INTERRUPTED
    if lost and run.status == Status.RUNNING:
        run.status = Status.INTERRUPTED
    return run


@dataclass(frozen=True)
class Trace:
    """One trace of a walk's score chart: a ``StepEvent`` field, its legend label and its look."""

    key: str
    label: str
    color: str
    mode: str = "lines"  # or "markers"
    width: int = 1
    axis: str = "y"  # "y2": the score's 0-1 components, on the right-hand axis


# The live chart's traces, in drawing order.
SCORE_TRACES = (
    Trace("score", gettext_noop("score"), "#9aa3b2", mode="markers", width=4),
    Trace("best_score", gettext_noop("best so far"), "#2f5bea", width=2),
    Trace("target", gettext_noop("target similarity"), "#1f9d55", axis="y2"),
    Trace("self_similarity", gettext_noop("self-similarity"), "#d98e04", axis="y2"),
    Trace("features", gettext_noop("feature similarity"), "#8b5cf6", axis="y2"),
)
PREVIEW_CLIPS = ("target", "best")


def preview_urls(run: DistillationRun, style: str) -> dict[str, str | None]:
    """Where the page plays a walk's A/B clips, by ``PREVIEW_CLIPS`` name."""
    return {which: artifact_url(run, run.paths.preview_clip(style, which)) for which in PREVIEW_CLIPS}


def run_page(run: DistillationRun) -> dict[str, Any]:
    """What the live page's script is told (through ``json_script``), so that it writes none of
    it itself: the run's websocket, the chart's traces (each with whether ``StepEvent`` leaves
    it unmeasured on an incomplete step), each walk's clip URLs, the finished statuses, and the
    statuses' and stages' names in the reader's language."""
    return {
        "socket": reverse("run", kwargs={"run_id": run.pk}, urlconf="distillation.routing"),
        "traces": [
            {
                **asdict(trace),
                "label": gettext(trace.label),
                "partial": trace.key in StepEvent.UNMEASURED_WHEN_INCOMPLETE,
            }
            for trace in SCORE_TRACES
        ],
        "previews": {walk.style: preview_urls(run, walk.style) for walk in run.style_runs.all()},
        "finished": list(FINISHED),
        "statuses": {value: str(label) for value, label in Status.choices},
        "stages": {value: str(label) for value, label in DistillationRun.Stage.choices},
        "phases": {name: gettext(name) for name in PHASE_NAMES},
        # Plotly's decimal and thousands marks, as the reader's language writes numbers.
        "separators": get_format("DECIMAL_SEPARATOR") + get_format("THOUSAND_SEPARATOR"),
    }


def artifact_url(run: DistillationRun, path: str | Path) -> str | None:
    """The URL serving one of the run's files (None for a path outside its folder)."""
    try:
        relative = Path(path).resolve().relative_to(run.workdir.resolve())
    except ValueError:
        return None
    return reverse("distillation:artifact", args=[run.pk, relative.as_posix()])


def validation_report(run: DistillationRun) -> ValidationReport | None:
    """Stage 3's report as the run stored it (None before Stage 3 has ended)."""
    return ValidationReport.from_dict(run.report) if run.report else None


def report_rows(run: DistillationRun, report: ValidationReport) -> list[dict]:
    """Per style of the report: its verdict, its checks with what each means, and the audio it
    judged as URLs."""
    rows = []
    for style, verdict in report.styles.items():
        ab = verdict.listening
        clips = [
            {"phrase": phrase, "url": artifact_url(run, path)}
            for phrase, path in zip(verdict.phrases, verdict.audio, strict=True)
        ]
        rows.append(
            {
                "style": style,
                "verdict": verdict,
                "checks": [
                    {"name": name, "check": check, "text": CHECK_TEXTS.get(name)}
                    for name, check in verdict.checks.items()
                ],
                "clips": clips,
                "ab": {
                    "text": ab.text,
                    "target": artifact_url(run, ab.target),
                    "evolved": artifact_url(run, ab.evolved),
                }
                if ab
                else None,
            }
        )
    return rows


def tts_keys() -> QuerySet[TTSApiKey]:
    """Every key, newest first, revoked ones too (they say when)."""
    return TTSApiKey.objects.select_related("created_by")


def tts_status() -> dict:
    """What the TTS service serves now, or why it cannot say."""
    try:
        return {"voices": lab_tts_client().voices(), "error": ""}
    except TTSUnavailable as exc:
        return {"voices": None, "error": translated(exc)}


# How long a search step and a style's other work take when this lab has no run of its own to
# go by: measured 2026-12-02 on the 2-core CPU of the README (benchmarks.quality: a walk step
# 2.2 s, a gradient step 15-18 s; Stage 1, the start choice and Stage 3 about 90 s a style).
DEFAULT_SECONDS_PER_STEP = {"walk": 2.2, "gradient": 16.0}
DEFAULT_SETUP_SECONDS = 90.0
MIN_STEPS_MEASURED = 3  # a walk with fewer steps says little about their pace
MEASURED_WALKS = 10  # the most recent walks an estimate averages
LONG_RUN_SECONDS = 3600


@dataclass(frozen=True)
class RunEstimate:
    """How long a run would take on this lab, and what the figure rests on."""

    steps: int
    styles: int
    seconds_per_step: dict[str, float]  # walk and gradient
    gradient_steps: int  # of each style's steps, those taken by the gradient
    setup_seconds: float  # per style: the reference, the start voice and the validation
    measured_walks: int  # how many of this lab's walks the pace comes from (0: the defaults)

    @property
    def walk_steps(self) -> int:
        return self.steps - self.gradient_steps

    @property
    def seconds_per_style(self) -> float:
        gradient = self.gradient_steps * self.seconds_per_step["gradient"]
        return self.setup_seconds + gradient + self.walk_steps * self.seconds_per_step["walk"]

    @property
    def seconds(self) -> float:
        return self.styles * self.seconds_per_style

    @property
    def is_long(self) -> bool:
        """Long enough that the page suggests a shorter run."""
        return self.seconds > LONG_RUN_SECONDS


def estimate_run(*, styles: Sequence[str], steps: int | None, optimizer: str | None) -> RunEstimate:
    """The time a run of ``styles`` would take, from the pace of this lab's recent walks of each
    optimizer (their seconds of searching over their steps), else the defaults."""
    search = run_config(styles=styles, steps=steps, optimizer=optimizer).evolution
    if search.optimizer == "hybrid":
        gradient_steps = min(search.gradient_steps, search.steps)
    else:
        gradient_steps = search.steps if search.optimizer == "gradient" else 0
    paces, measured = {}, 0
    for kind, default in DEFAULT_SECONDS_PER_STEP.items():
        walks = StyleRun.objects.filter(
            step__gte=MIN_STEPS_MEASURED, elapsed__gt=0, run__config__evolution__optimizer=kind
        ).order_by("-pk")[:MEASURED_WALKS]
        rates = [walk.elapsed / walk.step for walk in walks]
        paces[kind] = statistics.median(rates) if rates else default
        measured += len(rates)
    return RunEstimate(
        steps=search.steps,
        styles=len(styles),
        seconds_per_step=paces,
        gradient_steps=gradient_steps,
        setup_seconds=DEFAULT_SETUP_SECONDS,
        measured_walks=measured,
    )
