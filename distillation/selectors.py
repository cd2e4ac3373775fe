"""Read-side queries of the operators' pages."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from distillation.checks import CHECK_TEXTS
from distillation.models import FINISHED, DistillationRun, Status, TTSApiKey
from distillation.services.tts_keys import lab_tts_client
from voicelab.engine.evolution import StepEvent
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
