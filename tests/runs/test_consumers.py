"""The run websocket: who may watch, one group per run, and catch-up without gaps or duplicates.

Steps are stored and sent by the worker's own ``StepRecorder`` over the real Redis channel layer.
"""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from accounts.services import choose_language
from distillation.models import DistillationRun
from distillation.services.live import StepRecorder, announce, broadcast
from voicelab.asgi import application
from voicelab.engine.evolution import StepEvent
from voicelab.engine.messages import Message
from voicelab.engine.reference import NotEnoughMaterial, select

from .factories import make_run

# The consumer reads the database from another thread: the data must be committed.
pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://localhost")
WAIT = 30  # seconds for a message that should come: generous, for a busy machine


def event(step: int, score: float, *, accepted: bool = False, best: float | None = None) -> StepEvent:
    return StepEvent(
        step=step,
        score=score,
        target=0.8,
        self_similarity=0.9,
        features=0.7,
        complete=True,
        accepted=accepted,
        best_score=best or score,
        elapsed=step * 1.0,
    )


def record(run: DistillationRun, style: str, *events: StepEvent) -> None:
    recorder = StepRecorder(run.style_runs.get(style=style))
    for e in events:
        recorder(e)
    recorder.flush()


def login(client: Client, user) -> tuple[bytes, bytes]:
    client.force_login(user)
    return b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()


def communicator(run_id: int, cookie: tuple[bytes, bytes] | None) -> WebsocketCommunicator:
    headers = [ORIGIN, cookie] if cookie else [ORIGIN]
    return WebsocketCommunicator(application, f"/ws/distillation/runs/{run_id}/", headers=headers)


@pytest.mark.parametrize("who, code", [("anonymous", 4401), ("annotator", 4403)])
def test_only_operators_may_watch(who: str, code: int, client: Client, annotator, operator) -> None:
    run = make_run(operator)
    cookie = login(client, annotator) if who == "annotator" else None

    async def scenario() -> tuple[bool, int | None]:
        socket = communicator(run.pk, cookie)
        connected, closed_with = await socket.connect(timeout=WAIT)
        await socket.disconnect()
        return connected, closed_with

    assert asyncio.run(scenario()) == (False, code)


def test_a_run_that_does_not_exist_is_refused(client: Client, operator) -> None:
    cookie = login(client, operator)

    async def scenario() -> tuple[bool, int | None]:
        socket = communicator(999_999, cookie)
        connected, closed_with = await socket.connect(timeout=WAIT)
        await socket.disconnect()
        return connected, closed_with

    assert asyncio.run(scenario()) == (False, 4404)


def test_history_first_then_live_steps_without_gaps_or_duplicates(client: Client, operator) -> None:
    run = make_run(operator)
    record(run, "neutral", event(1, 50.0, accepted=True), event(2, 49.0, best=50.0), event(3, 55.0, accepted=True))
    cookie = login(client, operator)

    async def scenario() -> tuple[dict, dict, dict]:
        socket = communicator(run.pk, cookie)
        connected, _ = await socket.connect(timeout=WAIT)
        assert connected
        try:
            history = await socket.receive_json_from(timeout=WAIT)
            # A batch overlapping what the history held (a resumed walk replays its last steps).
            await sync_to_async(broadcast)(
                run.pk,
                {
                    "type": "run.steps",
                    "style": "neutral",
                    "progress": {"step": 4},
                    "events": [event(3, 55.0, accepted=True).as_dict(), event(4, 54.0, best=55.0).as_dict()],
                },
            )
            overlap = await socket.receive_json_from(timeout=WAIT)
            await sync_to_async(record)(run, "neutral", event(5, 60.0, accepted=True))
            live = await socket.receive_json_from(timeout=WAIT)
            return history, overlap, live
        finally:
            await socket.disconnect()

    history, overlap, live = asyncio.run(scenario())

    assert history["type"] == "history" and history["run"]["status"] == "queued"
    assert [e["step"] for e in history["history"]["neutral"]] == [1, 2, 3]
    assert history["history"]["neutral"][2] == {**event(3, 55.0, accepted=True).as_dict()}
    assert overlap["type"] == "steps" and [e["step"] for e in overlap["events"]] == [4]
    assert live["type"] == "steps" and [e["step"] for e in live["events"]] == [5]
    assert live["progress"]["step"] == 5 and live["progress"]["best_score"] == 60.0


def test_a_socket_hears_only_its_own_run(client: Client, operator) -> None:
    watched, other = make_run(operator), make_run(operator, styles=("amable",))
    cookie = login(client, operator)

    async def scenario() -> tuple[bool, dict]:
        socket = communicator(watched.pk, cookie)
        await socket.connect(timeout=WAIT)
        try:
            await socket.receive_json_from(timeout=WAIT)  # the (empty) history
            await sync_to_async(record)(other, "amable", event(1, 40.0, accepted=True))
            silent = await socket.receive_nothing(timeout=1)
            await sync_to_async(record)(watched, "neutral", event(1, 41.0, accepted=True))
            return silent, await socket.receive_json_from(timeout=WAIT)
        finally:
            await socket.disconnect()

    silent, own = asyncio.run(scenario())
    assert silent
    assert own["style"] == "neutral" and own["events"][0]["score"] == 41.0


def test_a_long_walk_is_stored_sampled_but_keeps_every_improvement(operator) -> None:
    run = make_run(operator, steps=10_000)
    improving = {7, 1234, 9999}
    record(run, "neutral", *(event(step, 50.0, accepted=step in improving) for step in range(1, 10_001)))
    stored = list(run.style_runs.get().history.values_list("step", flat=True))
    assert improving <= set(stored) and {1, 5, 10, 10_000} <= set(stored)
    assert 2000 <= len(stored) <= 2000 + len(improving) + 1  # ~2,000 points however long the walk
    assert stored == sorted(stored)


@pytest.mark.usefixtures("redis")  # channels_redis itself, the lab's layer
def test_a_socket_idle_longer_than_redis_blocking_reads_still_hears_the_run(client: Client, operator) -> None:
    """channels_redis blocks 5 s on each read; a client timeout as short would kill idle sockets."""
    run = make_run(operator)
    cookie = login(client, operator)

    async def scenario() -> dict:
        socket = communicator(run.pk, cookie)
        await socket.connect(timeout=WAIT)
        try:
            await socket.receive_json_from(timeout=WAIT)
            assert await socket.receive_nothing(timeout=7)  # idle through at least one blocking read
            await sync_to_async(record)(run, "neutral", event(1, 42.0, accepted=True))
            return await socket.receive_json_from(timeout=WAIT)
        finally:
            await socket.disconnect()

    assert asyncio.run(scenario())["events"][0]["score"] == 42.0


@pytest.mark.spanish
def test_a_runs_error_reaches_each_watcher_in_their_language(client: Client, operator, django_user_model) -> None:
    """The worker stores and sends the engine's Message; each socket reads it in its reader's
    language (Spanish by default, English for whoever chose it), numbers their way."""
    run = make_run(operator)
    english_operator = django_user_model.objects.create_user("olga", password="x")
    english_operator.groups.set(operator.groups.all())
    choose_language(user=english_operator, language="en")
    spanish_cookie, english_cookie = login(client, operator), login(Client(), english_operator)
    with pytest.raises(NotEnoughMaterial) as raised:
        select([], min_seconds=20, max_seconds=30)
    shortage = raised.value.args[0]

    async def scenario() -> list[tuple[str, str]]:
        sockets = [communicator(run.pk, spanish_cookie), communicator(run.pk, english_cookie)]
        heard = []
        for socket in sockets:
            assert (await socket.connect(timeout=WAIT))[0]
            await socket.receive_json_from(timeout=WAIT)  # the history: no error yet
        try:
            await sync_to_async(fail_the_run)(run, Message("Stage 1: {problem}", {"problem": shortage}))
            for socket in sockets:
                status = await socket.receive_json_from(timeout=WAIT)
                heard.append((status["run"]["error"], status["run"]["styles"][0]["error"]))
            return heard
        finally:
            for socket in sockets:
                await socket.disconnect()

    spanish, english = asyncio.run(scenario())
    assert (
        spanish
        == ("Etapa 1: Solo 0,0 s de habla validada (de 0 de 0 tomas); la referencia necesita 20 s: faltan 20,0 s.",) * 2
    )
    assert (
        english
        == ("Stage 1: Only 0.0 s of validated speech (from 0 of 0 takes); the reference needs 20 s: 20.0 s more.",) * 2
    )


def fail_the_run(run: DistillationRun, error: Message) -> None:
    DistillationRun.objects.filter(pk=run.pk).update(status="failed", error=error.as_dict())
    run.style_runs.update(status="failed", error=error.as_dict())
    announce(DistillationRun.objects.get(pk=run.pk))
