"""Stage 1 from a teacher: over HTTP against a local espeak-ng server, and F5-TTS's refusals."""

from __future__ import annotations

from pathlib import Path

import pyloudnorm
import pytest

from distillation.engine.reference import SAMPLE_RATE
from distillation.engine.teacher import F5Teacher, HttpTeacher, TeacherError, teacher_reference

SENTENCES = [
    "Buenos días, gracias por llamar a nuestro servicio.",
    "Bienvenido a nuestro servicio de atención al cliente.",
    "Gracias por su llamada, que tenga un buen día.",
    "Buenas tardes, le atiende el departamento de facturación.",
    "Encantada de hablar con usted, ¿en qué puedo ayudarle?",
    "Esta sexta frase no se usa.",
]


def test_http_teacher_speaks_five_sentences_at_the_styles_speed(teacher_url: str, teacher_speeds: list) -> None:
    audio, transcript = teacher_reference(HttpTeacher(teacher_url), "empatico", SENTENCES)
    assert teacher_speeds == [0.90] * 5  # empático's F5 speed, five sentences
    assert transcript == " ".join(SENTENCES[:5])
    assert pyloudnorm.Meter(SAMPLE_RATE).integrated_loudness(audio) == pytest.approx(-23.0, abs=0.5)
    assert 8 < len(audio) / SAMPLE_RATE < 30


def test_http_teacher_failures_are_clear(teacher_url: str) -> None:
    with pytest.raises(TeacherError, match="answered 500: teacher crashed"):
        HttpTeacher(teacher_url).speak("fail", speed=1.0)
    from voicelab.embedded_redis import free_port

    with pytest.raises(TeacherError, match="could not be reached"):
        HttpTeacher(f"http://127.0.0.1:{free_port()}", timeout=2).speak("Hola.", speed=1.0)


def test_f5_teacher_refuses_missing_files_and_transcripts(tmp_path: Path) -> None:
    wav = tmp_path / "voice.wav"
    wav.write_bytes(b"RIFF")
    with pytest.raises(TeacherError, match="checkpoint .* does not exist"):
        F5Teacher(checkpoint=tmp_path / "none.safetensors", vocoder=tmp_path, reference_audio=wav, reference_text="Hola")
    with pytest.raises(TeacherError, match="transcript is required"):
        F5Teacher(checkpoint=wav, vocoder=tmp_path, reference_audio=wav, reference_text=" ")


def test_f5_teacher_without_the_package_says_how_to_get_it(tmp_path: Path) -> None:
    try:
        import f5_tts  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("f5-tts is installed here: the in-process teacher needs a GPU-sized test of its own.")
    wav = tmp_path / "voice.wav"
    wav.write_bytes(b"RIFF")
    with pytest.raises(TeacherError, match="f5-tts is not installed"):
        F5Teacher(checkpoint=wav, vocoder=tmp_path, reference_audio=wav, reference_text="Hola")
