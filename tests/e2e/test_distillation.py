"""Distillation runs on a real Celery worker (solo pool, the ``distillation`` queue) against the
embedded Redis, watched over the real websocket of the ASGI server; and a worker killed
with SIGKILL mid-run, whose run resumes from its checkpoint when the worker starts again."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from distillation.models import DistillationRun, EvolutionStep, Status, StyleRun
from distillation.services.runs import launch_run
from distillation.tasks import schedule

from .conftest import Worker
from .processes import wait_until
from .runs import RunSocket

pytestmark = pytest.mark.django_db(transaction=True)

FINISHED = ("succeeded", "failed", "cancelled")


@pytest.fixture
def neutral_material(validated_takes: Callable[..., None]) -> None:
    validated_takes("neutral")


def test_a_short_run_end_to_end_with_its_steps_on_the_websocket(
    running_distiller: Worker, asgi_server: str, neutral_material: None, operator
) -> None:
    run, jobs = launch_run(user=operator, styles=["neutral"], steps=4, seed=11)
    schedule(jobs)
    socket = RunSocket.as_user(asgi_server, run.pk, operator)
    try:
        socket.wait_for(lambda _: socket.run_status() in FINISHED, timeout=240, what="the run to finish")
    finally:
        socket.close()

    run.refresh_from_db()
    assert run.status == Status.SUCCEEDED, run.error
    assert run.report["styles"]["neutral"]["checks"]["speaker_similarity"]["value"] > 0
    assert sorted(socket.steps("neutral")) == [1, 2, 3, 4]  # every step once, whether history or live
    assert socket.walk_statuses("neutral")[-1] == "succeeded" and "running" in socket.walk_statuses("neutral")
    previews = [m["preview"] for m in socket.messages if m["type"] == "preview"]
    previews += [m["previews"]["neutral"] for m in socket.messages if m["type"] == "history" and m["previews"]]
    assert previews and previews[-1]["text"] and previews[-1]["best"]["pitch_hz"]
    assert run.paths.evolved_voice("neutral").is_file()


def test_a_worker_killed_mid_run_resumes_it_from_the_checkpoint(
    running_distiller: Worker, asgi_server: str, neutral_material: None, operator
) -> None:
    steps = 16
    run, jobs = launch_run(user=operator, styles=["neutral"], steps=steps, seed=12)
    schedule(jobs)
    socket = RunSocket.as_user(asgi_server, run.pk, operator)
    try:
        walk = wait_until(
            lambda: StyleRun.objects.filter(run=run, step__gte=5).first(),
            timeout=240,
            what="the walk to reach step 5",
            interval=0.2,
        )
        running_distiller.kill()
        before_kill = dict(EvolutionStep.objects.filter(style_run=walk).values_list("step", "score"))
        walk.refresh_from_db()
        assert walk.status == Status.RUNNING  # nobody could say otherwise: the worker died silently

        running_distiller.start()  # the same worker name, as a supervisor would restart it
        socket.wait_for(lambda _: socket.run_status() in FINISHED, timeout=300, what="the resumed run to finish")
    finally:
        socket.close()

    walk.refresh_from_db()
    run.refresh_from_db()
    assert run.status == Status.SUCCEEDED, run.error
    assert walk.attempts == 2 and walk.step == steps
    # The dashboard saw the walk interrupted, then running again, then done.
    shown = socket.walk_statuses("neutral")
    assert shown[shown.index("interrupted") :] == ["interrupted", "running", "succeeded"], shown
    # Nothing recorded before the kill was lost or rewritten; the history has every step once.
    after = dict(EvolutionStep.objects.filter(style_run=walk).values_list("step", "score"))
    assert {step: after[step] for step in before_kill} == before_kill
    assert sorted(after) == list(range(1, steps + 1))
    assert DistillationRun.objects.get(pk=run.pk).report is not None
