"""The TTS service's API keys in the lab: the operators' page (a key's secret shown once,
never listed, refused by the service once revoked), who may use it, and the lab's own key."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from starlette.testclient import TestClient

from distillation.models import TTSApiKey
from distillation.services.tts_keys import create_key, lab_api_key, revoke_key
from voicelab.engine.synthesis import SynthesisPool
from voicelab.engine.tts_app import create_app
from voicelab.engine.tts_keys import KeyRing, key_hash
from voicelab.engine.tts_service import TTSService

pytestmark = pytest.mark.django_db

KEYS_PAGE = reverse("distillation:tts_keys")
SECRET = re.compile(r'<code id="new-key-secret">([^<]+)</code>')


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
    pool = SynthesisPool(kokoro_assets, onnx_synthesizer.config, local=onnx_synthesizer)
    service = TTSService(pool=pool, assets=kokoro_assets, environ={}, env_file=key_files / ".env")
    return TestClient(create_app(service, keys=KeyRing(key_files / "tts-keys.json")))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_a_new_keys_secret_is_shown_once_and_a_revoke_shuts_it_out(
    operator_client: Client, tts: TestClient, settings
) -> None:
    assert "No keys yet" in operator_client.get(KEYS_PAGE).content.decode()

    created = operator_client.post(KEYS_PAGE, {"name": "IVR", "role": "client"})

    assert created.status_code == 200 and "no-store" in created["Cache-Control"]
    secret = SECRET.search(created.content.decode()).group(1)
    key = TTSApiKey.objects.get()
    assert (key.name, key.role, key.created_by.username, key.key_hash) == ("IVR", "client", "oscar", key_hash(secret))
    listed = operator_client.get(KEYS_PAGE).content.decode()
    assert "IVR" in listed and "valid" in listed and secret not in listed and "new-key-secret" not in listed
    assert secret not in settings.VOICELAB_TTS_KEYS_FILE.read_text()
    assert tts.get("/voices", headers=bearer(secret)).status_code == 200
    assert tts.post("/set_voice?style=amable", headers=bearer(secret)).status_code == 403  # a client key

    revoked = operator_client.post(reverse("distillation:revoke_tts_key", args=[key.pk]), follow=True)

    assert "revoked" in revoked.content.decode() and "IVR" in revoked.content.decode()
    assert tts.get("/voices", headers=bearer(secret)).status_code == 401
    key.refresh_from_db()
    first_revoke = key.revoked_at
    assert first_revoke is not None and revoke_key(key=key).revoked_at == first_revoke


def test_an_operator_key_made_on_the_page_may_switch_the_style(operator_client: Client, tts: TestClient) -> None:
    created = operator_client.post(KEYS_PAGE, {"name": "supervisor", "role": "operator"})
    secret = SECRET.search(created.content.decode()).group(1)
    switched = tts.post("/set_voice?style=empatico", headers=bearer(secret))
    assert switched.status_code == 200 and switched.json()["active"] == "empatico"


def test_a_key_needs_a_name_and_a_known_role(operator_client: Client, key_files: Path, settings) -> None:
    for data in ({"name": "", "role": "client"}, {"name": "IVR", "role": "root"}):
        refused = operator_client.post(KEYS_PAGE, data)
        assert refused.status_code == 400 and 'id="key-error"' in refused.content.decode()
    assert not TTSApiKey.objects.exists() and not settings.VOICELAB_TTS_KEYS_FILE.exists()


def test_only_operators_manage_keys(annotator_client: Client, operator, key_files: Path, settings) -> None:
    key, _ = create_key(name="IVR", role="client", user=operator)
    published = settings.VOICELAB_TTS_KEYS_FILE.read_text()
    revoke = reverse("distillation:revoke_tts_key", args=[key.pk])

    assert annotator_client.get(KEYS_PAGE).status_code == 403
    assert annotator_client.post(KEYS_PAGE, {"name": "mine", "role": "operator"}).status_code == 403
    assert annotator_client.post(revoke).status_code == 403
    annotator_client.logout()
    assert annotator_client.get(KEYS_PAGE).status_code == 302  # to the login page

    key.refresh_from_db()
    assert TTSApiKey.objects.count() == 1 and key.revoked_at is None
    assert settings.VOICELAB_TTS_KEYS_FILE.read_text() == published


def test_writes_are_posts_with_a_csrf_token(operator, key_files: Path) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(operator)
    key, _ = create_key(name="IVR", role="client", user=operator)
    revoke = reverse("distillation:revoke_tts_key", args=[key.pk])

    assert browser.post(KEYS_PAGE, {"name": "forged", "role": "operator"}).status_code == 403
    assert browser.post(revoke).status_code == 403
    assert browser.get(revoke).status_code == 405
    assert browser.get(KEYS_PAGE, {"name": "by-get", "role": "operator"}).status_code == 200  # GET never writes
    key.refresh_from_db()
    assert list(TTSApiKey.objects.values_list("name", flat=True)) == ["IVR"] and key.revoked_at is None


def test_the_lab_makes_its_own_operator_key_once_and_keeps_it_published(operator, tts: TestClient, settings) -> None:
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
