"""``manage.py run_pipeline`` end to end on the real model, from labeled recordings to a deploy."""

from __future__ import annotations

import json
from collections.abc import Callable
from io import StringIO
from pathlib import Path

import pytest
import torch
from django.core.management import CommandError, call_command


@pytest.fixture
def neutral_takes(validated_takes: Callable[..., None]) -> None:
    """Ten validated neutral takes of an espeak speaker: about 28 s of material."""
    validated_takes("neutral")


@pytest.fixture
def lab(settings, tmp_path: Path, kokoro_assets, monkeypatch: pytest.MonkeyPatch) -> Path:
    settings.VOICELAB_MODELS_DIR = kokoro_assets.root
    settings.VOICELAB_ENV_FILE = tmp_path / ".env"
    settings.VOICELAB_DEPLOYED_VOICES_DIR = tmp_path / "deployed"
    settings.VOICELAB_TTS_URL = "http://127.0.0.1:9"  # nothing listens: the reload is only a warning
    monkeypatch.setenv("VOICELAB_DISTILLATION_ALPHAS", "0")  # a quick start-point search
    return tmp_path / "distillation"


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("run_pipeline", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_all_stages_from_recordings_to_deploy(neutral_takes: None, lab: Path, tmp_path: Path) -> None:
    out, err = run(
        "--styles", "neutral", "--optimizer", "walk", "--steps", "4", "--seed", "3", "--output", str(lab), "--force"
    )  # fmt: skip

    assert (lab / "reference_audio/neutral/target.wav").is_file()
    assert (lab / "reference_audio/neutral/target.txt").read_text().strip()
    assert 2 < json.loads((lab / "reference_audio/neutral/target.json").read_text())["speech_rate"] < 9
    voice = torch.load(lab / "evolved_voices/neutral.pt", weights_only=True)
    assert voice.shape == (510, 1, 256) and voice.dtype == torch.float32
    assert (lab / "evolved_voices/neutral.wav").is_file()
    report = json.loads((lab / "validation/validation_report.json").read_text())
    assert set(report["styles"]) == {"neutral"} and "speaker_similarity" in report["styles"]["neutral"]["checks"]
    deployed = tmp_path / "deployed" / "neutral.pt"
    assert deployed.read_bytes() == (lab / "evolved_voices/neutral.pt").read_bytes()
    env = (tmp_path / ".env").read_text()
    assert "TTS_BACKEND=kokoro" in env and f"KOKORO_VOICE_PATH={deployed}" in env
    assert json.loads((tmp_path / "deployed/pace.json").read_text()) == {
        "neutral": 1.0
    }  # read, not measured, at deploy
    assert "Stage 2 neutral: walk, best" in out and "Stage 4 neutral" in out and "could not be reached" in err
    assert (lab / "start_voices/neutral.pt").is_file()  # Stage 3 checks the voice moved past its start
    assert "closer_than_start" in report["styles"]["neutral"]["checks"]


@pytest.mark.django_db
def test_a_clip_of_the_speaker_is_the_target_end_to_end(
    lab: Path, tmp_path: Path, espeak_wav: Callable[..., Path]
) -> None:
    """One recording (espeak-ng, a speaker outside Kokoro), no takes, no teacher: the gradient
    search from the nearest stock voices, then Stage 3's judges."""
    clip = espeak_wav(
        "Buenos días, gracias por llamar a nuestro servicio de atención al cliente. "
        "Le atiende Marta, ¿en qué puedo ayudarle hoy?",
        voice="es+f3",
    )
    out, _ = run(
        "--source", "clip", "--reference-audio", str(clip), "--styles", "neutral",
        "--steps", "1", "--seed", "4", "--output", str(lab), "--stage", "all", "--force",
    )  # fmt: skip
    assert (lab / "reference_audio/neutral/target.wav").is_file()
    assert "Stage 2 neutral: choosing a start voice 6/6" in out  # three nearest voices and their midpoints
    assert "Stage 2 neutral: gradient, best" in out
    report = json.loads((lab / "validation/validation_report.json").read_text())
    neutral = report["styles"]["neutral"]
    assert neutral["optimized_against"] == ["resemblyzer", "CAM++"] and neutral["origin"]
    assert {"speaker_similarity", "naturalness", "closer_than_start", "closer_than_stock"} <= set(neutral["checks"])
    assert "optimized against: resemblyzer, CAM++" in out


@pytest.mark.django_db
def test_a_clip_too_short_or_missing_is_one_clear_line(lab: Path, espeak_wav: Callable[..., Path]) -> None:
    with pytest.raises(CommandError, match="--source clip needs --reference-audio"):
        run("--stage", "reference", "--source", "clip", "--styles", "neutral", "--output", str(lab))
    short = espeak_wav("Hola.")
    with pytest.raises(CommandError, match=r"^neutral: The clip holds \d\.\d s of speech; a voice needs at least 5 s"):
        run("--stage", "reference", "--source", "clip", "--reference-audio", str(short), "--output", str(lab))


@pytest.mark.django_db
def test_missing_material_is_one_clear_line(corpus: None, lab: Path) -> None:
    with pytest.raises(CommandError, match=r"^amable: Only 0\.0 s of validated speech .* 20\.0 s more\.$"):
        run("--stage", "reference", "--styles", "amable", "--output", str(lab))


@pytest.mark.django_db
def test_stages_out_of_order_say_what_to_run_first(lab: Path) -> None:
    with pytest.raises(CommandError, match="run the reference stage first"):
        run("--stage", "evolve", "--styles", "neutral", "--output", str(lab))
    with pytest.raises(CommandError, match="run the validate stage first"):
        run("--stage", "deploy", "--styles", "neutral", "--output", str(lab))


@pytest.mark.django_db
def test_reference_from_a_teacher_server(corpus: None, lab: Path, teacher_url: str, teacher_speeds: list) -> None:
    out, _ = run("--stage", "reference", "--styles", "profesional", "--tts-url", teacher_url, "--output", str(lab))
    assert teacher_speeds == [1.05] * 5  # profesional's F5 speed, five of its corpus sentences
    transcript = (lab / "reference_audio/profesional/target.txt").read_text()
    assert "Para continuar, necesito verificar su identidad" in transcript
    assert "Stage 1 profesional" in out


@pytest.mark.django_db
def test_missing_models_and_bad_teacher_paths_are_one_line(corpus: None, lab: Path, settings, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"reference audio .*nowhere\.wav does not exist"):
        run(
            "--stage",
            "reference",
            "--source",
            "f5",
            "--styles",
            "amable",
            "--output",
            str(lab),
            "--reference-audio",
            str(tmp_path / "nowhere.wav"),
            "--reference-text",
            "Hola",
            "--f5-checkpoint",
            str(tmp_path),
            "--f5-vocoder",
            str(tmp_path),
        )
    settings.VOICELAB_MODELS_DIR = tmp_path / "no-models"
    with pytest.raises(CommandError, match=r"run `python manage\.py fetch_models`"):
        run("--stage", "validate", "--styles", "neutral", "--output", str(lab))
