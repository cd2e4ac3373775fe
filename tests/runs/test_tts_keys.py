"""The TTS service's API keys in the lab: published to the service's keys file, and the
lab's own key for its calls."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from distillation.engine.tts_keys import KeyRing, key_hash
from distillation.engine.tts_service import TTSService, create_app
from distillation.services.tts_keys import create_key, lab_api_key, revoke_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def key_files(settings, tmp_path: Path) -> Path:
    """The keys file and the lab's own key under tmp_path, no key from the environment."""
    settings.VOICELAB_TTS_KEYS_FILE = tmp_path / "tts-keys.json"
    settings.VOICELAB_TTS_LAB_KEY_FILE = tmp_path / "tts-lab-key"
    settings.VOICELAB_TTS_API_KEY = ""
    return tmp_path


@pytest.fixture
def tts(onnx_synthesizer, kokoro_assets, key_files: Path) -> TestClient:
    """The real TTS app, reading the keys file the lab publishes."""
    service = TTSService(synthesizer=onnx_synthesizer, assets=kokoro_assets, environ={}, env_file=key_files / ".env")
    return TestClient(create_app(service, keys=KeyRing(key_files / "tts-keys.json")))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_the_lab_makes_its_own_operator_key_once_and_keeps_it_published(
    operator, tts: TestClient, settings
) -> None:
    own = lab_api_key()

    lab_key = settings.VOICELAB_TTS_LAB_KEY_FILE
    assert stat.S_IMODE(lab_key.stat().st_mode) == 0o600 and lab_key.read_text() == own
    assert lab_api_key() == own
    assert tts.post("/set_voice?style=profesional", headers=bearer(own)).status_code == 200
    key, _ = create_key(name="IVR", role="client", user=operator)
    revoke_key(key=key)
    published = json.loads(settings.VOICELAB_TTS_KEYS_FILE.read_text())["keys"]
    assert published == [{"name": "the lab", "role": "operator", "sha256": key_hash(own)}]
    settings.VOICELAB_TTS_KEYS_FILE.unlink()  # lost: the lab's next call publishes it again
    assert lab_api_key() == own and tts.post("/reload", headers=bearer(own)).status_code == 200


def test_a_key_from_the_environment_replaces_the_labs_own(key_files: Path, settings) -> None:
    settings.VOICELAB_TTS_API_KEY = "given-by-the-environment"
    assert lab_api_key() == "given-by-the-environment"
    assert not settings.VOICELAB_TTS_LAB_KEY_FILE.exists()
