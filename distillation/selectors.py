"""Read-side queries of the operators' pages."""

from __future__ import annotations

from pathlib import Path

from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from distillation.models import DistillationRun, Status, TTSApiKey
from distillation.services.tts_keys import lab_tts_client
from voicelab.engine.tts_client import TTSUnavailable
from voicelab.engine.validation import ValidationReport

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


def files_url(run: DistillationRun) -> str:
    """The URL prefix under which the run's files are served (``files/<path>``)."""
    return reverse("distillation:artifact", args=[run.pk, "-"]).removesuffix("-")


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
    """Per style of the report: its verdict, and the audio it judged as URLs."""
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
        return {"voices": None, "error": str(exc)}
