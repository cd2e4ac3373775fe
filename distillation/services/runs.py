"""What operators do with runs: launch, cancel, resume, deploy."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from distillation.models import FINISHED, DistillationRun, Status, StyleRun
from distillation.services.execution import interrupt_orphans
from distillation.services.jobs import Job
from distillation.services.live import announce
from distillation.services.material import material
from distillation.services.teacher import teacher_problem
from distillation.services.tts_keys import lab_tts_client
from labeling.services.takes import check_audio_upload
from voicelab.engine.audio import read_audio
from voicelab.engine.config import PipelineConfig, get_style
from voicelab.engine.deploy import DeployReport
from voicelab.engine.errors import EngineError
from voicelab.engine.pipeline import Pipeline
from voicelab.engine.prosody import speech_frames
from voicelab.engine.reference import MIN_CLIP_SECONDS
from voicelab.engine.validation import ValidationReport
from voicelab.i18n import translated

MAX_STEPS = 100_000
TEACHER_VOICE_SECONDS = (2.0, 30.0)  # F5-TTS clones from a short clip; long ones are cut by it anyway
TARGET_CLIP_SECONDS = (MIN_CLIP_SECONDS, 300.0)  # a clip as the target: enough speech, and a bound


class LaunchRefused(EngineError):
    """A launch that cannot start; the message tells the operator why."""


class Launched(NamedTuple):
    run: DistillationRun
    jobs: list[Job]  # its Stage 1, for the caller to queue


class Resumed(NamedTuple):
    walks: list[StyleRun]
    jobs: list[Job]


def _check_teacher_voice(upload: UploadedFile | None, text: str) -> None:
    if upload is None:
        raise LaunchRefused(_("The F5 teacher needs the voice to clone: upload a reference WAV."))
    if not text.strip():
        raise LaunchRefused(_("Give the transcript of the reference audio: F5-TTS needs it to clone the voice."))
    _check_reference_audio(upload, TEACHER_VOICE_SECONDS)


def _check_target_clip(upload: UploadedFile | None) -> None:
    if upload is None:
        raise LaunchRefused(_("A clip target needs the clip: upload a WAV, FLAC or OGG of the speaker (5 s or more)."))
    _check_reference_audio(upload, TARGET_CLIP_SECONDS)


def _check_reference_audio(upload: UploadedFile, seconds: tuple[float, float]) -> None:
    try:
        check_audio_upload(upload)
        audio = read_audio(upload)
    except EngineError as exc:
        raise LaunchRefused(_("Reference audio: {problem}").format(problem=translated(exc))) from None
    finally:
        upload.seek(0)
    shortest, longest = seconds
    if not shortest <= audio.duration <= longest:
        refused = _("Reference audio: {seconds} s long; give {shortest:.0f}-{longest:.0f} s.")
        seconds = number_format(audio.duration, 1)
        raise LaunchRefused(refused.format(seconds=seconds, shortest=shortest, longest=longest))
    if speech_frames(audio.samples, audio.sample_rate).speech_span() is None:
        raise LaunchRefused(_("Reference audio: it is silent."))


def launch_problems(*, styles: Sequence[str], source: str) -> list[str]:
    """Why a run of these styles from this source cannot start now (empty: it can)."""
    if source == DistillationRun.Source.F5:
        problem = teacher_problem()
        return [problem] if problem else []
    if source == DistillationRun.Source.CLIP:
        return []  # the clip is the whole material
    return [m.problem() for m in material(styles=tuple(styles)).values() if not m.enough]


def run_config(
    *, styles: Sequence[str], steps: int | None = None, optimizer: str | None = None, seed: int | None = None
) -> PipelineConfig:
    """The settings a run launched with these choices gets: the environment's defaults, then
    what the operator chose (None: not chosen)."""
    chosen = {"steps": steps, "optimizer": optimizer, "seed": seed}
    return PipelineConfig.from_env(
        root=settings.VOICELAB_RUNS_DIR,
        styles=tuple(dict.fromkeys(styles)),
        **{key: value for key, value in chosen.items() if value is not None},
    )


def launch_run(
    *,
    user: AbstractBaseUser,
    styles: Sequence[str],
    steps: int | None = None,
    seed: int | None = None,
    optimizer: str | None = None,
    source: str = DistillationRun.Source.RECORDINGS,
    reference_audio: UploadedFile | None = None,
    reference_text: str = "",
) -> Launched:
    """Create the run, with its Stage 1 to queue; refused with every reason when it cannot start.

    If the queue cannot be reached, the run stays queued and the recovery sweep queues
    its Stage 1 once the queue is back (see ``distillation.tasks``).
    """
    if not styles:
        raise LaunchRefused(_("Choose at least one style."))
    for style in styles:
        get_style(style)
    if steps is not None and not 1 <= steps <= MAX_STEPS:
        raise LaunchRefused(_("Steps must be between 1 and {most}.").format(most=MAX_STEPS))
    if source not in DistillationRun.Source.values:
        raise LaunchRefused(_("Unknown teacher source “{source}”.").format(source=source))
    if source == DistillationRun.Source.F5:
        _check_teacher_voice(reference_audio, reference_text)
    if source == DistillationRun.Source.CLIP:
        _check_target_clip(reference_audio)
    problems = launch_problems(styles=styles, source=source)
    if problems:
        raise LaunchRefused(" ".join(problems))
    config = run_config(
        styles=styles, steps=steps, optimizer=optimizer, seed=seed if seed is not None else random.randrange(2**31)
    )
    with transaction.atomic():
        run = DistillationRun.objects.create(
            launched_by=user,
            styles=list(config.styles),
            steps=config.evolution.steps,
            seed=config.evolution.seed,
            config=config.record(),
            source=source,
            reference_text=reference_text.strip(),
        )
        if source in (DistillationRun.Source.F5, DistillationRun.Source.CLIP):
            run.reference_audio.save(f"run{run.pk}_{reference_audio.name}", reference_audio, save=True)
        StyleRun.objects.bulk_create([StyleRun(run=run, style=style, position=i) for i, style in enumerate(run.styles)])
    return Launched(run, [Job.prepare(run.pk)])


def cancel_run(*, run: DistillationRun) -> DistillationRun:
    """Ask the run to stop: a walk stops at its next step and keeps its best voice so far."""
    if run.is_finished:
        raise LaunchRefused(
            _("Run {pk} has already ended: {status}.").format(pk=run.pk, status=run.get_status_display())
        )
    DistillationRun.objects.filter(pk=run.pk).update(cancel_requested=True)
    run.refresh_from_db()
    # Walks no worker is running (queued, interrupted) end here; running ones end at their next step.
    idle = run.style_runs.filter(status__in=[Status.QUEUED, Status.INTERRUPTED])
    idle.update(status=Status.CANCELLED, finished_at=timezone.now())
    if not run.style_runs.exclude(status__in=FINISHED).exists():
        run.status, run.finished_at = Status.CANCELLED, timezone.now()
        run.save(update_fields=["status", "finished_at"])
    announce(run)
    return run


def resume_run(*, run: DistillationRun) -> Resumed:
    """The run's interrupted walks (those whose worker is gone included), and the jobs that
    resume each from its last checkpoint; with them, whatever else the recovery found."""
    recovered = interrupt_orphans()
    interrupted = list(run.style_runs.filter(status=Status.INTERRUPTED))
    if not interrupted:
        raise LaunchRefused(_("Run {pk} has no interrupted walk to resume.").format(pk=run.pk))
    walks = [Job.walk(style_run.pk) for style_run in interrupted]
    return Resumed(interrupted, walks + [job for job in recovered if job not in walks])


def deploy_run(*, run: DistillationRun, force: bool = False) -> DeployReport:
    """Stage 4: the run's validated voices to the TTS service (failing styles only with ``force``)."""
    if run.report is None:
        raise LaunchRefused(_("Run {pk} has no validation report yet: nothing to deploy.").format(pk=run.pk))
    report = Pipeline(run.pipeline_config(), settings.VOICELAB_MODELS_DIR).deploy(
        ValidationReport.from_dict(run.report),
        target_dir=settings.VOICELAB_DEPLOYED_VOICES_DIR,
        env_file=settings.VOICELAB_ENV_FILE,
        force=force,
        tts=lab_tts_client(),
    )
    run.deployed_at = timezone.now()
    run.save(update_fields=["deployed_at"])
    return report


def switch_style_of_tts(*, style: str) -> dict:
    """Make ``style`` the TTS service's default voice; returns what it serves now."""
    get_style(style)
    return lab_tts_client().set_voice(style)


def try_tts(*, text: str, style: str) -> bytes:
    """``text`` as the TTS service speaks it in ``style`` now: what the call center will hear."""
    get_style(style)
    return lab_tts_client().speech(text, voice=style)
