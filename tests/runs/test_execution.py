"""A run executed in this process, stage by stage, as the Celery tasks execute it: real model,
real Redis channel layer, an espeak speaker's validated takes as material."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import torch
from django.utils import timezone, translation

from distillation.models import DistillationRun, EvolutionStep, Status, StyleRun
from distillation.services import execution
from distillation.services.execution import Claim, WalkBusy, claim, evolve, interrupt_orphans, prepare, validate
from distillation.services.jobs import Job, Kind
from distillation.services.live import StepRecorder
from distillation.services.runs import cancel_run, launch_run, resume_run
from voicelab.engine.messages import Message
from voicelab.engine.voices import load_voice
from voicelab.i18n import translated

from .factories import make_run

pytestmark = pytest.mark.django_db


def english(error: dict) -> str:
    """A stored error as the logs and the CLI read it."""
    return str(Message.from_dict(error))


def ids(jobs: list[Job], kind: Kind) -> list[int]:
    return [job.pk for job in jobs if job.kind is kind]


def launched(operator, *, steps: int) -> tuple[DistillationRun, StyleRun]:
    run, jobs = launch_run(user=operator, styles=["neutral"], steps=steps, seed=3)
    assert jobs == [Job.prepare(run.pk)]
    walks = prepare(run_id=run.pk, worker="test@here")
    run.refresh_from_db()
    assert run.stage == DistillationRun.Stage.EVOLVE and run.status == Status.RUNNING, run.error
    assert walks == [Job.walk(pk) for pk in run.style_runs.values_list("pk", flat=True)]
    return run, StyleRun.objects.get(pk=walks[0].pk)


def test_a_run_goes_from_recordings_to_a_report(lab: Path, neutral_material: None, operator, listen: Callable) -> None:
    run, walk = launched(operator, steps=4)
    drain = listen(run.pk)

    assert evolve(style_run_id=walk.pk, worker="test@here") == [Job.validate(run.pk)]  # the last walk
    walk.refresh_from_db()
    run.refresh_from_db()
    assert walk.status == Status.SUCCEEDED and walk.step == 4 and walk.attempts == 1
    assert walk.best_score >= walk.start_score and walk.origin
    assert run.stage == DistillationRun.Stage.VALIDATE
    # Every step of a short walk is kept, once, in order, with its components.
    history = list(EvolutionStep.objects.filter(style_run=walk).values_list("step", "best_score", "target"))
    assert [step for step, _, _ in history] == [1, 2, 3, 4]
    assert all(0 < target <= 1 for _, _, target in history)
    assert history[-1][1] == pytest.approx(walk.best_score)
    # The prosody preview: both contours on one grid, and both clips to listen to.
    assert set(walk.preview) >= {"text", "target", "best", "step", "version"}
    assert any(v is not None for v in walk.preview["best"]["pitch_hz"])
    assert (run.workdir / "preview/neutral/best.wav").is_file() and (
        run.workdir / "preview/neutral/target.wav"
    ).is_file()

    messages = drain()
    sent = [e["step"] for m in messages if m["type"] == "run.steps" for e in m["events"]]
    assert sent == [1, 2, 3, 4]  # each step sent once, after it was stored
    # Before step one the page is told what happens: the three nearest stock voices and their midpoints.
    phases = [m["run"]["styles"][0]["phase"] for m in messages if m["type"] == "run.status"]
    assert "choosing a start voice 0/6" in phases and "choosing a start voice 6/6" in phases
    assert walk.phase == ""  # cleared by the first step
    assert any(m["type"] == "run.preview" for m in messages)
    assert messages[-1]["type"] == "run.status" and messages[-1]["run"]["stage"] == "validate"

    validate(run_id=run.pk, worker="test@here")
    run.refresh_from_db()
    assert run.status == Status.SUCCEEDED and run.stage == DistillationRun.Stage.DONE
    neutral = run.report["styles"]["neutral"]
    assert neutral["checks"]["speaker_similarity"]["threshold"] == 0.75  # CAM++, not the optimized resemblyzer
    assert neutral["checks"]["speaker_similarity"]["judge"] == "CAM++"
    assert neutral["optimized_against"] == ["resemblyzer", "CAM++ (start choice only)"]
    assert Path(neutral["listening"]["evolved"]).is_file() and neutral["listening"]["text"] == walk.preview["text"]
    assert load_voice(run.paths.evolved_voice("neutral")).shape == (510, 1, 256)


def test_cancel_stops_the_walk_at_the_next_step_and_keeps_its_best_voice(
    lab: Path, neutral_material: None, operator, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, walk = launched(operator, steps=50)

    class CancelAfterTwo(StepRecorder):
        def flush(self) -> None:
            super().flush()
            if self.style_run.step >= 2 and not DistillationRun.objects.get(pk=run.pk).cancel_requested:
                cancel_run(run=DistillationRun.objects.get(pk=run.pk))

    monkeypatch.setattr(execution, "StepRecorder", CancelAfterTwo)
    evolve(style_run_id=walk.pk, worker="test@here")

    walk.refresh_from_db()
    run.refresh_from_db()
    assert walk.status == Status.CANCELLED and walk.step == 2  # the batch under way (2 candidates) ends, no more
    assert run.status == Status.CANCELLED and run.report is None
    kept = load_voice(run.paths.evolved_voice("neutral"))
    checkpoint = torch.load(run.workdir / "evolved_voices/neutral.checkpoint", weights_only=True)
    assert torch.equal(kept, checkpoint["best"])  # the best so far, not the starting voice


def test_a_walk_whose_worker_died_is_interrupted_then_resumed_from_its_checkpoint(
    lab: Path, neutral_material: None, operator, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, walk = launched(operator, steps=6)

    class Dies(BaseException):  # like a SIGKILL, no handler of the walk sees it
        pass

    class DiesAtFour(StepRecorder):
        def flush(self) -> None:
            super().flush()
            if self.style_run.step >= 4:
                raise Dies  # what the process sees of a SIGKILL: nothing after this runs

    monkeypatch.setattr(execution, "StepRecorder", DiesAtFour)
    with pytest.raises(Dies):
        evolve(style_run_id=walk.pk, worker="worker-1@here")
    walk.refresh_from_db()
    assert walk.status == Status.RUNNING and walk.step == 4
    recorded = list(EvolutionStep.objects.filter(style_run=walk).values_list("step", "score"))

    # The same worker, restarted, finds its own walk orphaned.
    assert ids(interrupt_orphans(worker="worker-1@here"), Kind.WALK) == [walk.pk]
    walk.refresh_from_db()
    run.refresh_from_db()
    assert walk.status == Status.INTERRUPTED and run.status == Status.INTERRUPTED

    monkeypatch.setattr(execution, "StepRecorder", StepRecorder)
    evolve(style_run_id=walk.pk, worker="worker-1@here")
    walk.refresh_from_db()
    assert walk.status == Status.SUCCEEDED and walk.step == 6 and walk.attempts == 2
    after = list(EvolutionStep.objects.filter(style_run=walk).values_list("step", "score"))
    assert [step for step, _ in after] == [1, 2, 3, 4, 5, 6]
    assert after[: len(recorded)] == recorded  # nothing recorded before the death was lost or changed


def test_a_walk_is_claimed_by_one_worker_at_a_time(operator, lab: Path) -> None:
    run = make_run(operator)
    walk = run.style_runs.get()
    assert claim(style_run_id=walk.pk, worker="a") is Claim.CLAIMED
    assert claim(style_run_id=walk.pk, worker="b") is Claim.BUSY  # a's lease is live
    with pytest.raises(WalkBusy):  # the task retries it later
        evolve(style_run_id=walk.pk, worker="b")
    StyleRun.objects.filter(pk=walk.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert claim(style_run_id=walk.pk, worker="b") is Claim.CLAIMED  # a died: its lease expired
    StyleRun.objects.filter(pk=walk.pk).update(status=Status.SUCCEEDED)
    assert claim(style_run_id=walk.pk, worker="c") is Claim.DONE  # a repeated task does nothing


def test_orphans_are_only_walks_whose_worker_is_gone(operator, lab: Path) -> None:
    run = make_run(operator, styles=("neutral", "amable"))
    neutral, amable = run.style_runs.all()
    live = timezone.now() + timedelta(minutes=1)
    StyleRun.objects.filter(pk=neutral.pk).update(status=Status.RUNNING, worker="other@host", lease_until=live)
    StyleRun.objects.filter(pk=amable.pk).update(status=Status.RUNNING, worker="me@host", lease_until=live)
    assert ids(interrupt_orphans(), Kind.WALK) == []  # both leases live
    assert ids(interrupt_orphans(worker="me@host"), Kind.WALK) == [amable.pk]
    StyleRun.objects.filter(pk=neutral.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert ids(interrupt_orphans(), Kind.WALK) == [neutral.pk]


def test_stage_1_without_material_fails_the_run_with_the_reason(lab: Path, neutral_material: None, operator) -> None:
    run, _ = launch_run(user=operator, styles=["neutral"], steps=5, seed=1)
    # The takes vanish between the launch and Stage 1 (deleted files are not material).
    for path in Path(lab / "media").rglob("*.wav"):
        path.unlink()
    assert prepare(run_id=run.pk, worker="test@here") == []  # no walk may start
    run.refresh_from_db()
    assert run.status == Status.FAILED and english(run.error).startswith("Stage 1: neutral: Only 0.0 s")
    with translation.override("es"):  # each reader sees it in their language, numbers their way
        assert translated(run.error).startswith("Etapa 1: neutral: Solo 0,0 s de habla validada")
    assert run.style_runs.get().status == Status.FAILED


def test_a_bug_in_a_stage_fails_the_run_with_one_line_not_a_hung_run(
    lab: Path, neutral_material: None, operator, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, _ = launch_run(user=operator, styles=["neutral"], steps=5, seed=1)

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("segments")

    monkeypatch.setattr(execution, "build_references", broken)
    assert prepare(run_id=run.pk, worker="test@here") == []  # no walk may start
    run.refresh_from_db()
    assert run.status == Status.FAILED
    assert english(run.error) == "Stage 1: unexpected error (KeyError: 'segments'); the worker's log has the details."


def test_a_walk_whose_worker_keeps_dying_is_failed_not_resumed_forever(operator, lab: Path) -> None:
    run = make_run(operator)
    walk = run.style_runs.get()
    for attempt in range(1, execution.MAX_WALK_ATTEMPTS + 1):
        assert claim(style_run_id=walk.pk, worker="w@host") is Claim.CLAIMED  # (re)started by the recovery
        recovered = interrupt_orphans(worker="w@host")  # ...and the worker died under it again
        walk.refresh_from_db()
        if attempt < execution.MAX_WALK_ATTEMPTS:
            assert ids(recovered, Kind.WALK) == [walk.pk] and walk.status == Status.INTERRUPTED
    assert ids(recovered, Kind.WALK) == [] and walk.status == Status.FAILED
    assert english(walk.error).startswith(f"its worker died {execution.MAX_WALK_ATTEMPTS} times in a row")
    run.refresh_from_db()
    assert run.status == Status.FAILED and english(run.error).startswith("Neutral: its worker died 3 times")


def test_a_stage_is_held_by_one_worker_and_recovered_when_its_worker_dies(operator, lab: Path) -> None:
    run = make_run(operator)
    execution.mark_stage_queued(run_id=run.pk)
    assert ids(execution.interrupt_orphans(), Kind.PREPARE) == []  # queued, waiting for a worker
    assert execution.claim_stage(run_id=run.pk, stage=DistillationRun.Stage.REFERENCE, worker="a") is not None
    assert execution.claim_stage(run_id=run.pk, stage=DistillationRun.Stage.REFERENCE, worker="b") is None
    assert prepare(run_id=run.pk, worker="b") == []  # a's Stage 1 is not run twice
    assert ids(execution.interrupt_orphans(), Kind.PREPARE) == []  # a's lease is live
    DistillationRun.objects.filter(pk=run.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert ids(execution.interrupt_orphans(), Kind.PREPARE) == [run.pk]  # a died: queued again
    assert execution.claim_stage(run_id=run.pk, stage=DistillationRun.Stage.REFERENCE, worker="b") is not None


def test_a_run_whose_stage_never_reached_the_queue_is_queued_by_the_recovery(operator, lab: Path) -> None:
    run = make_run(operator)  # launched while the queue was down: never queued
    assert ids(execution.interrupt_orphans(), Kind.PREPARE) == [run.pk]
    DistillationRun.objects.filter(pk=run.pk).update(stage=DistillationRun.Stage.VALIDATE)
    assert ids(execution.interrupt_orphans(), Kind.VALIDATE) == [run.pk]


def test_resuming_a_run_queues_its_walks_and_whatever_else_the_recovery_found(operator, lab: Path) -> None:
    run = make_run(operator)
    execution.mark_stage_queued(run_id=run.pk)
    walk = run.style_runs.get()
    StyleRun.objects.filter(pk=walk.pk).update(status=Status.INTERRUPTED)
    other = make_run(operator)  # its Stage 1 never reached the queue
    resumed = resume_run(run=run)
    assert resumed.walks == [walk]
    assert resumed.jobs == [Job.walk(walk.pk), Job.prepare(other.pk)]


def test_a_run_keeps_the_settings_it_was_launched_with(
    lab: Path, neutral_material: None, operator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOICELAB_DISTILLATION_ALPHAS", "0,0.5")
    run, _ = launch_run(user=operator, styles=["neutral"], steps=7, seed=9)
    launched = DistillationRun.objects.get(pk=run.pk).pipeline_config()
    assert launched.evolution.interpolation_alphas == (0.0, 0.5)
    assert (launched.evolution.steps, launched.evolution.seed, launched.styles) == (7, 9, ("neutral",))
    assert launched.paths.root == run.workdir
    # A worker with another environment runs what was launched, not what it reads.
    monkeypatch.setenv("VOICELAB_DISTILLATION_ALPHAS", "1.0")
    monkeypatch.setenv("VOICELAB_DISTILLATION_STEPS", "99")
    assert DistillationRun.objects.get(pk=run.pk).pipeline_config() == launched


def test_a_failed_runs_error_names_each_failed_style_and_why() -> None:
    died = Message("its worker died {attempts} times in a row", {"attempts": 3}).as_dict()
    walks = [("failed", "neutral", died), ("succeeded", "amable", None), ("failed", "empatico", None)]
    status, error = execution.status_from_walks(walks, cancel_requested=False)
    # A walk failed before errors were kept (an upgrade mid-run) has none: it still reads.
    assert status == Status.FAILED and str(error) == "Neutral: its worker died 3 times in a row; Empático: failed"
    with translation.override("es"):
        assert translated(error).endswith("; Empático: fallida")
