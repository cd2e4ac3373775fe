"""The TTS service as operators run it: ``manage.py runtts`` on a port, driven over real HTTP."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import soundfile as sf

from . import processes
from .processes import LabProcess


@pytest.fixture(scope="module")
def tts_env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tts-env") / ".env"


@pytest.fixture(scope="module")
def tts_server(kokoro_assets, tts_env_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from voicelab.embedded_redis import HOST, free_port

    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "voicelab.settings",
        "VOICELAB_MODELS_DIR": str(kokoro_assets.root),
        "VOICELAB_ENV_FILE": str(tts_env_file),
        "KOKORO_THREADS": "1",
    }
    server: LabProcess = processes.start(
        "runtts", ["manage.py", "runtts", "--port", str(port)], env=env, log_dir=tmp_path_factory.mktemp("tts-log")
    )
    base_url = f"http://{HOST}:{port}"
    try:
        server.wait_ready(lambda: processes.http_ok(f"{base_url}/health"), timeout=90)
        yield base_url
    finally:
        server.stop()


def test_the_seeds_curl_switches_the_style_and_speech_follows(tts_server: str) -> None:
    # curl -X POST http://localhost:8001/set_voice?style=empatico
    switched = httpx.post(f"{tts_server}/set_voice", params={"style": "empatico"}, timeout=10)
    assert switched.status_code == 200 and switched.json()["active"] == "empatico"

    spoken = httpx.post(f"{tts_server}/synthesize", json={"text": "Lamento las molestias."}, timeout=60)

    assert spoken.status_code == 200 and spoken.headers["content-type"] == "audio/wav"
    audio, rate = sf.read(io.BytesIO(spoken.content))
    assert rate == 24_000 and 0.7 < len(audio) / rate < 4
    assert httpx.get(f"{tts_server}/health", timeout=10).json()["active"] == "empatico"


def test_refusals_are_json_with_a_reason(tts_server: str) -> None:
    response = httpx.post(f"{tts_server}/synthesize", json={"text": " "}, timeout=10)
    assert response.status_code == 400 and response.json() == {"error": "The text is empty."}


def test_missing_models_stop_runtts_with_one_clear_line(tmp_path: Path) -> None:
    import subprocess

    result = subprocess.run(
        [sys.executable, "manage.py", "runtts", "--port", "1"],
        env={**os.environ, "VOICELAB_MODELS_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "fetch_models" in result.stderr and "Traceback" not in result.stderr


def test_deploy_reloads_the_running_service(tts_server: str, tts_env_file: Path, tmp_path: Path, stock_voice) -> None:
    from distillation.engine.deploy import deploy
    from distillation.engine.voices import save_voice

    evolved = {"neutral": tmp_path / "neutral.pt", "profesional": tmp_path / "profesional.pt"}
    save_voice(stock_voice("em_alex"), evolved["neutral"])
    save_voice(stock_voice("em_santa"), evolved["profesional"])

    report = deploy(evolved=evolved, passed=dict.fromkeys(evolved, True), target_dir=tmp_path / "deployed",
                    env_file=tts_env_file, active="profesional", tts_url=tts_server)  # fmt: skip

    assert report.reloaded and not report.warnings
    described = httpx.get(f"{tts_server}/voices", timeout=10).json()
    assert (described["tts_backend"], described["active"]) == ("kokoro", "profesional")
    assert described["styles"]["profesional"] == {"file": "profesional.pt", "source": "deployed"}
    assert described["styles"]["amable"]["source"] == "stock:ef_dora"
