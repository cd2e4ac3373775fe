"""The workspace websocket: live take updates for logged-in users only (real Redis channel layer)."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

from labeling.models import Recording, Sentence, take_upload_path
from labeling.services.takes import validate_take
from voicelab.asgi import application

# The consumer reads the database from another thread: the data must be committed.
pytestmark = pytest.mark.django_db(transaction=True)

PATH = "/ws/labeling/takes/"
ORIGIN = (b"origin", b"http://localhost")
WAIT = 30  # seconds for a message that should come: generous, for a busy machine


@pytest.fixture
def pending_take(
    labeled_greeting: Sentence, annotator: User, media_root: Path, espeak_wav: Callable[..., Path]
) -> Recording:
    """A stored take waiting for validation, made without queueing a Celery task."""
    take = Recording(sentence=labeled_greeting, style="amable", take_number=1, speaker="ana", uploaded_by=annotator)
    take.audio.name = take_upload_path(take, "")
    (media_root / take.audio.name).parent.mkdir(parents=True)
    shutil.copy(espeak_wav(), media_root / take.audio.name)
    take.save()
    return take


def session_cookie(client: Client) -> tuple[bytes, bytes]:
    return b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()


def test_validation_pushes_the_take_cell_out_of_band(annotator_client: Client, pending_take: Recording) -> None:
    async def scenario() -> str:
        communicator = WebsocketCommunicator(application, PATH, headers=[ORIGIN, session_cookie(annotator_client)])
        connected, _ = await communicator.connect(timeout=WAIT)
        assert connected
        try:
            await sync_to_async(validate_take)(recording=pending_take)
            return await communicator.receive_from(timeout=WAIT)
        finally:
            await communicator.disconnect()

    html = asyncio.run(scenario())

    assert 'id="take-shcc-01"' in html and 'hx-swap-oob="true"' in html
    assert 'data-take-status="valid"' in html
    assert f"/labeling/takes/{pending_take.pk}/audio/" in html
    assert 'class="upload-form"' in html  # rendered with the connected annotator's permissions
    # The per-style progress comes along: one validated amable take of the labeled sentence.
    progress = html[html.index('id="style-progress"') :]
    assert 'hx-swap-oob="true"' in progress and re.search(r"Amable</span></td>\s*<td>1</td><td>1</td>", progress)
    categories = html[html.index('id="category-progress"') :]
    assert 'hx-swap-oob="true"' in categories and "1 / 1 / 1 of 15" in categories


def try_connecting(headers: list[tuple[bytes, bytes]]) -> tuple[bool, int | None]:
    """(connected, close code) of one connection attempt."""

    async def scenario() -> tuple[bool, int | None]:
        communicator = WebsocketCommunicator(application, PATH, headers=headers)
        connected, code = await communicator.connect(timeout=WAIT)
        await communicator.disconnect()
        return connected, code

    return asyncio.run(scenario())


@pytest.mark.parametrize("with_cookie", [False, True], ids=["anonymous", "bad-session"])
def test_a_connection_without_a_login_is_refused(db: None, with_cookie: bool) -> None:
    headers = [ORIGIN, (b"cookie", b"sessionid=not-a-session")] if with_cookie else [ORIGIN]
    assert try_connecting(headers) == (False, 4401)


def test_a_user_without_a_role_is_refused(nobody_client: Client) -> None:
    assert try_connecting([ORIGIN, session_cookie(nobody_client)]) == (False, 4403)
