"""Fixtures of the distillation app's tests: a lab whose runs write under tmp_path, quick searches."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.test import Client

from distillation.services import execution
from distillation.services.live import run_group


@pytest.fixture
def lab(settings, tmp_path: Path, media_root: Path, kokoro_assets, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Runs, deployed voices and the .env under tmp_path; a start-point search of the bases and
    their midpoints only (what the suite can afford); no TTS service listening."""
    settings.VOICELAB_MODELS_DIR = kokoro_assets.root
    settings.VOICELAB_RUNS_DIR = tmp_path / "runs"
    settings.VOICELAB_ENV_FILE = tmp_path / ".env"
    settings.VOICELAB_DEPLOYED_VOICES_DIR = tmp_path / "deployed"
    settings.VOICELAB_TTS_URL = "http://127.0.0.1:9"
    monkeypatch.setenv("VOICELAB_DISTILLATION_ALPHAS", "0")
    # These tests are about running, cancelling and resuming walks, which the seed's walk does in
    # a second a step; the gradient search is tested on its own (tests/engine, test_run_pipeline).
    monkeypatch.setenv("VOICELAB_DISTILLATION_OPTIMIZER", "walk")
    # A walk's lease is renewed from a thread with its own connection, which would wait on the
    # test's open transaction; these walks are short, and the e2e tests cover the renewal.
    monkeypatch.setattr(execution, "RENEW_SECONDS", 3600.0)
    return tmp_path


@pytest.fixture
def operator_client(client: Client, operator) -> Client:
    client.force_login(operator)
    return client


@pytest.fixture
def neutral_material(validated_takes: Callable[..., None]) -> None:
    validated_takes("neutral")


@pytest.fixture
def listen() -> Iterator[Callable[[int], Callable[[], list[dict]]]]:
    """``drain = listen(run_id)`` joins the run's group; ``drain()`` returns what was sent since."""
    layer = get_channel_layer()
    joined: list[tuple[str, str]] = []

    def join(run_id: int) -> Callable[[], list[dict]]:
        channel = async_to_sync(layer.new_channel)()
        async_to_sync(layer.group_add)(run_group(run_id), channel)
        joined.append((run_group(run_id), channel))

        def drain() -> list[dict]:
            messages = []

            async def receive_all() -> None:
                import asyncio

                while True:
                    try:
                        messages.append(await asyncio.wait_for(layer.receive(channel), timeout=0.3))
                    except TimeoutError:
                        return

            async_to_sync(receive_all)()
            return messages

        return drain

    yield join
    for group, channel in joined:
        async_to_sync(layer.group_discard)(group, channel)
