"""Stage 4: deployed files, the .env file, and refusals that change nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from voicelab.engine.deploy import DeployError, deploy
from voicelab.engine.tts_client import TTSClient
from voicelab.engine.voices import VoiceError, save_voice

ENV = "# call center TTS\nOTHER_SETTING=keep-me\nTTS_BACKEND=piper\n"


@pytest.fixture
def evolved(tmp_path: Path, stock_voice: Callable) -> dict[str, Path]:
    folder = tmp_path / "evolved_voices"
    folder.mkdir()
    files = {"neutral": folder / "neutral.pt", "amable": folder / "amable.pt"}
    save_voice(stock_voice("em_alex"), files["neutral"])
    save_voice(stock_voice("ef_dora"), files["amable"])
    return files


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    path = tmp_path / ".env"
    path.write_text(ENV)
    return path


def test_deploy_copies_the_voices_and_points_the_env_file(evolved: dict, env_file: Path, tmp_path: Path) -> None:
    target = tmp_path / "models" / "deployed"
    report = deploy(
        evolved=evolved, passed={"neutral": True, "amable": True}, target_dir=target, env_file=env_file, active="amable"
    )
    assert report.deployed == {"neutral": target / "neutral.pt", "amable": target / "amable.pt"}
    for style, path in report.deployed.items():
        assert path.read_bytes() == evolved[style].read_bytes()
    text = env_file.read_text()
    assert "# call center TTS" in text and "OTHER_SETTING=keep-me" in text
    assert "TTS_BACKEND=kokoro" in text and f"KOKORO_VOICE_PATH={target / 'amable.pt'}" in text
    assert report.env_changes["TTS_BACKEND"] == ("piper", "kokoro")
    assert not report.reloaded and not report.warnings


def test_a_failing_style_is_refused_unless_forced(evolved: dict, env_file: Path, tmp_path: Path) -> None:
    target = tmp_path / "deployed"
    with pytest.raises(DeployError, match="amable did not pass validation"):
        deploy(
            evolved=evolved,
            passed={"neutral": True, "amable": False},
            target_dir=target,
            env_file=env_file,
            active="neutral",
        )
    assert not target.exists() and env_file.read_text() == ENV
    report = deploy(
        evolved=evolved,
        passed={"neutral": True, "amable": False},
        target_dir=target,
        env_file=env_file,
        active="neutral",
        force=True,
    )
    assert set(report.deployed) == {"neutral", "amable"} and "amable failed validation" in str(report.warnings[0])


def test_a_broken_tensor_or_wrong_active_style_changes_nothing(evolved: dict, env_file: Path, tmp_path: Path) -> None:
    target = tmp_path / "deployed"
    evolved["amable"].write_bytes(b"not a tensor")
    with pytest.raises(VoiceError, match=r"amable\.pt"):
        deploy(
            evolved=evolved,
            passed={"neutral": True, "amable": True},
            target_dir=target,
            env_file=env_file,
            active="neutral",
        )
    with pytest.raises(DeployError, match="active style “empatico”"):
        deploy(
            evolved=evolved,
            passed={"neutral": True, "amable": True},
            target_dir=target,
            env_file=env_file,
            active="empatico",
            force=True,
        )
    assert not target.exists() and env_file.read_text() == ENV


def test_an_unreachable_service_is_a_warning_not_a_failure(evolved: dict, env_file: Path, tmp_path: Path) -> None:
    from voicelab.embedded_redis import free_port

    report = deploy(
        evolved=evolved,
        passed={"neutral": True, "amable": True},
        target_dir=tmp_path / "d",
        env_file=env_file,
        active="neutral",
        tts=TTSClient(f"http://127.0.0.1:{free_port()}", api_key="any"),
    )
    assert not report.reloaded and "could not be reached" in str(report.warnings[0])
    assert (tmp_path / "d" / "neutral.pt").exists()


def test_the_measured_pace_is_recorded_beside_the_voices(evolved: dict, env_file: Path, tmp_path: Path) -> None:
    target = tmp_path / "deployed"
    passed = {"neutral": True, "amable": True}
    deploy(evolved=evolved, passed=passed, target_dir=target, env_file=env_file, active="neutral", pace={"amable": 0.9})
    report = deploy(
        evolved={"neutral": evolved["neutral"]},
        passed=passed,
        target_dir=target,
        env_file=env_file,
        active="neutral",
        pace={"neutral": 1.0},
    )
    assert report.pace == {"amable": 0.9, "neutral": 1.0}  # the earlier style keeps its pace
    assert json.loads((target / "pace.json").read_text()) == {"amable": 0.9, "neutral": 1.0}
