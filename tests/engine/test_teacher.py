"""Stage 1 from a teacher: over HTTP against a local espeak-ng server; F5-TTS in process on a tiny
random model where f5-tts is installed, and its refusals."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest

from voicelab.engine.reference import SAMPLE_RATE
from voicelab.engine.teacher import (
    NOT_CONFIGURED,
    F5Teacher,
    HttpTeacher,
    TeacherError,
    TeacherSource,
    teacher_reference,
)

SENTENCES = [
    "Buenos días, gracias por llamar a nuestro servicio.",
    "Bienvenido a nuestro servicio de atención al cliente.",
    "Gracias por su llamada, que tenga un buen día.",
    "Buenas tardes, le atiende el departamento de facturación.",
    "Encantada de hablar con usted, ¿en qué puedo ayudarle?",
    "Esta sexta frase no se usa.",
]


def test_http_teacher_speaks_five_sentences_at_the_styles_speed(teacher_url: str, teacher_speeds: list) -> None:
    reference = teacher_reference(HttpTeacher(teacher_url), "empatico", SENTENCES)
    audio = reference.audio
    assert teacher_speeds == [0.90] * 5  # empático's F5 speed, five sentences
    assert reference.transcript == " ".join(SENTENCES[:5])
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
    with pytest.raises(TeacherError, match=r"checkpoint .* does not exist"):
        F5Teacher(
            checkpoint=tmp_path / "none.safetensors", vocoder=tmp_path, reference_audio=wav, reference_text="Hola"
        )
    with pytest.raises(TeacherError, match="transcript is required"):
        F5Teacher(checkpoint=wav, vocoder=tmp_path, reference_audio=wav, reference_text=" ")


def test_f5_teacher_without_the_package_says_how_to_get_it(tmp_path: Path) -> None:
    try:
        import f5_tts  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("f5-tts is installed here: test_f5_in_process_on_a_tiny_random_model runs instead.")
    wav = tmp_path / "voice.wav"
    wav.write_bytes(b"RIFF")
    with pytest.raises(TeacherError, match="f5-tts is not installed"):
        F5Teacher(checkpoint=wav, vocoder=tmp_path, reference_audio=wav, reference_text="Hola")


TINY_VOCOS = """\
feature_extractor:
  class_path: vocos.feature_extractors.MelSpectrogramFeatures
  init_args: {sample_rate: 24000, n_fft: 1024, hop_length: 256, n_mels: 100, padding: center}
backbone:
  class_path: vocos.models.VocosBackbone
  init_args: {input_channels: 100, dim: 32, intermediate_dim: 64, num_layers: 1}
head:
  class_path: vocos.heads.ISTFTHead
  init_args: {dim: 32, n_fft: 1024, hop_length: 256, padding: center}
"""


def test_f5_in_process_on_a_tiny_random_model(tmp_path: Path, espeak_wav: Callable[..., Path]) -> None:
    """The in-process teacher end to end through f5-tts's own loaders, on a randomly initialised
    two-layer DiT and a one-layer vocos saved as the local files a user would give."""
    pytest.importorskip("f5_tts", reason="f5-tts is an optional extra for GPU machines and is not installed here")
    from importlib.resources import files

    import torch
    from f5_tts.model import CFM, DiT
    from f5_tts.model.utils import get_tokenizer
    from omegaconf import OmegaConf
    from vocos import Vocos

    settings = OmegaConf.load(str(files("f5_tts").joinpath("configs/F5TTS_v1_Base.yaml")))
    settings.model.arch = OmegaConf.merge(
        settings.model.arch, {"dim": 64, "depth": 2, "heads": 2, "text_dim": 32, "conv_layers": 1}
    )
    OmegaConf.save(settings, tmp_path / "tiny.yaml")
    vocab, size = get_tokenizer(str(files("f5_tts").joinpath("infer/examples/vocab.txt")), "custom")
    torch.manual_seed(0)
    mel = settings.model.mel_spec
    model = CFM(
        transformer=DiT(**settings.model.arch, text_num_embeds=size, mel_dim=mel.n_mel_channels),
        mel_spec_kwargs={
            "n_fft": mel.n_fft,
            "hop_length": mel.hop_length,
            "win_length": mel.win_length,
            "n_mel_channels": mel.n_mel_channels,
            "target_sample_rate": mel.target_sample_rate,
            "mel_spec_type": mel.mel_spec_type,
        },
        vocab_char_map=vocab,
    )
    torch.save(
        {"ema_model_state_dict": {f"ema_model.{k}": v for k, v in model.state_dict().items()}}, tmp_path / "tiny.pt"
    )
    vocoder = tmp_path / "vocos"
    vocoder.mkdir()
    (vocoder / "config.yaml").write_text(TINY_VOCOS)
    torch.save(Vocos.from_hparams(str(vocoder / "config.yaml")).state_dict(), vocoder / "pytorch_model.bin")

    text = "Hola, buenos días, le atiende el servicio de atención al cliente."
    teacher = F5Teacher(
        checkpoint=tmp_path / "tiny.pt",
        vocoder=vocoder,
        config=tmp_path / "tiny.yaml",
        reference_audio=espeak_wav(text),
        reference_text=text,
        device="cpu",
    )
    normal, rate = teacher.speak("Gracias por su llamada.", speed=1.0)
    slow, _ = teacher.speak("Gracias por su llamada.", speed=0.5)
    assert rate == SAMPLE_RATE and normal.dtype == np.float32 and np.isfinite(normal).all()
    assert len(slow) > 1.5 * len(normal) > 0  # F5 sizes its output by speed: half the speed, twice the length


def test_a_teacher_source_says_what_it_lacks(tmp_path: Path) -> None:
    assert TeacherSource().problem() == NOT_CONFIGURED
    with pytest.raises(TeacherError, match="No F5-TTS teacher is configured"):
        TeacherSource(checkpoint=tmp_path / "model.pt").teacher(reference_audio=None, reference_text="")
    in_process = TeacherSource(checkpoint=tmp_path / "model.pt", vocoder=tmp_path)
    assert in_process.problem() == ""
    with pytest.raises(TeacherError, match="needs the voice to clone"):
        in_process.teacher(reference_audio=None, reference_text="")
    server = TeacherSource(url="http://teacher:9000/", checkpoint=tmp_path / "model.pt")
    teacher = server.teacher(reference_audio=None, reference_text="")
    assert isinstance(teacher, HttpTeacher) and teacher.url == "http://teacher:9000"  # the server comes first
