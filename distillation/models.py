"""A distillation run, its per-style walks, and their sampled score history."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from voicelab.engine.config import STYLE_NAMES, PipelineConfig, PipelinePaths, get_style
from voicelab.engine.evolution import StepEvent
from voicelab.engine.tts_keys import CLIENT, OPERATOR

STYLE_CHOICES = [(name, get_style(name).label) for name in STYLE_NAMES]


class Status(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    INTERRUPTED = "interrupted", _("interrupted")
    CANCELLED = "cancelled", _("cancelled")
    FAILED = "failed", _("failed")
    SUCCEEDED = "succeeded", _("succeeded")


FINISHED = (Status.CANCELLED, Status.FAILED, Status.SUCCEEDED)
# Why it failed, kept as the engine's Message (``Message.as_dict``): the English template and
# its values, so that each reader sees it in their language (``voicelab.i18n.translated``).
ERROR_HELP = "Why it failed: Message.as_dict(), shown translated."


class DistillationRun(models.Model):
    """One launch: Stage 1 for every style, a walk per style, then Stage 3's report."""

    class Source(models.TextChoices):
        RECORDINGS = "recordings", _("labeled recordings")
        F5 = "f5", _("F5-TTS teacher")
        CLIP = "clip", _("one clip of the speaker")

    class Stage(models.TextChoices):
        REFERENCE = "reference", _("Stage 1: reference audio")
        EVOLVE = "evolve", _("Stage 2: evolution")
        VALIDATE = "validate", _("Stage 3: validation")
        DONE = "done", _("done")

    launched_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    styles = models.JSONField(help_text="The styles distilled, in order.")
    steps = models.PositiveIntegerField()
    seed = models.IntegerField()
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.RECORDINGS)
    reference_audio = models.FileField(upload_to="distillation/teacher/", blank=True, max_length=255)
    reference_text = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.REFERENCE)
    cancel_requested = models.BooleanField(default=False)
    error = models.JSONField(null=True, blank=True, help_text=ERROR_HELP)
    # The pipeline's settings as they were resolved when the run was launched (the launching
    # process's environment included): every stage runs exactly these. Styles, steps and seed
    # are also columns above, for the pages; the launch writes both from the same config.
    config = models.JSONField(default=dict, help_text="PipelineConfig.record() at launch.")
    report = models.JSONField(null=True, blank=True, help_text="Stage 3's validation report.")
    deployed_at = models.DateTimeField(null=True, blank=True)
    # Stage 1 and Stage 3 are one task each: when it was queued (None: the queue could not be
    # reached, the sweep queues it), and the lease of the worker running it (see StyleRun).
    queued_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("launch_run", "Can launch and cancel distillation runs"),
            ("deploy_voice", "Can deploy evolved voices to the TTS service"),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} ({', '.join(self.styles)}, {self.steps} steps)"

    @property
    def workdir(self) -> Path:
        """Where the pipeline writes this run's files (the seed's layout, one folder per run)."""
        return Path(settings.VOICELAB_RUNS_DIR) / str(self.pk)

    def pipeline_config(self) -> PipelineConfig:
        """The settings frozen at launch, with the files in this run's folder."""
        return PipelineConfig.from_record(self.config, root=self.workdir)

    @property
    def paths(self) -> PipelinePaths:
        return PipelinePaths(self.workdir)

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED


def worker_lost(now: datetime) -> Q:
    """Running under a lease that has run out (or none): its worker is gone."""
    return Q(status=Status.RUNNING) & (Q(lease_until__lt=now) | Q(lease_until__isnull=True))


class StyleRun(models.Model):
    """One style's walk within a run: its own Celery task, progress and best score."""

    run = models.ForeignKey(DistillationRun, on_delete=models.CASCADE, related_name="style_runs")
    style = models.CharField(max_length=16, choices=STYLE_CHOICES)
    position = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    step = models.PositiveIntegerField(default=0)
    best_score = models.FloatField(null=True, blank=True)
    start_score = models.FloatField(null=True, blank=True)
    origin = models.CharField(max_length=64, blank=True, help_text="The base voice or blend the walk started from.")
    elapsed = models.FloatField(default=0.0, help_text="Seconds of walking so far, across restarts.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Who runs it now: a worker renews the lease while it works; an expired lease means
    # the worker died, and the walk may be resumed from its checkpoint by another task.
    worker = models.CharField(max_length=255, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.JSONField(null=True, blank=True, help_text=ERROR_HELP)
    preview = models.JSONField(default=dict, blank=True, help_text="Prosody of the target vs the current best.")
    phase = models.CharField(
        max_length=100,
        blank=True,
        help_text="What the walk does before its first step, e.g. choosing a start voice 4/12.",
    )

    class Meta:
        ordering = ["run", "position"]
        constraints = [models.UniqueConstraint(fields=["run", "style"], name="one_walk_per_style_and_run")]

    def __str__(self) -> str:
        return f"{self.style} of run {self.run_id}"

    def has_lost_worker(self, now: datetime) -> bool:
        """``worker_lost`` for a walk already in memory."""
        return self.status == Status.RUNNING and (self.lease_until is None or self.lease_until < now)

    @property
    def progress(self) -> float:
        return self.step / self.run.steps if self.run.steps else 0.0

    @property
    def eta(self) -> timedelta | None:
        """Time left at the pace so far (None before the first step or once finished)."""
        if self.status != Status.RUNNING or not self.step:
            return None
        return timedelta(seconds=self.elapsed / self.step * (self.run.steps - self.step))


class EvolutionStep(models.Model):
    """One step of a walk, as the engine reported it (a column per ``StepEvent`` field).
    Sampled: see ``services.live``."""

    style_run = models.ForeignKey(StyleRun, on_delete=models.CASCADE, related_name="history")
    step = models.PositiveIntegerField()
    score = models.FloatField()
    target = models.FloatField()
    self_similarity = models.FloatField()
    features = models.FloatField()
    complete = models.BooleanField()
    accepted = models.BooleanField()
    best_score = models.FloatField()
    elapsed = models.FloatField()

    class Meta:
        ordering = ["style_run", "step"]
        constraints = [models.UniqueConstraint(fields=["style_run", "step"], name="one_record_per_step")]

    def __str__(self) -> str:
        return f"step {self.step} of {self.style_run_id}"

    def as_event(self) -> dict[str, float | int | bool]:
        """The step as the worker sent it: ``StepEvent.as_dict()``."""
        return {event_field.name: getattr(self, event_field.name) for event_field in fields(StepEvent)}


class TTSApiKey(models.Model):
    """A key to the TTS service. Only its sha256 is kept: the secret is shown once, when made.

    The valid keys are published to the service's keys file (``services.tts_keys``)."""

    class Role(models.TextChoices):
        OPERATOR = OPERATOR, _("operator: synthesize, list voices, switch the style, reload")
        CLIENT = CLIENT, _("client: synthesize and list voices")

    name = models.CharField(max_length=100, help_text="Who or what uses it, e.g. the call center's IVR.")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.CLIENT)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        permissions = [("manage_tts_keys", "Can create and revoke the TTS service's API keys")]

    def __str__(self) -> str:
        return f"{self.name} ({self.role})"
