"""Real Kokoro synthesis on the real model, both backends (short texts keep it quick)."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import pytest
import torch

from voicelab.engine.g2p import G2PError, phonemize
from voicelab.engine.prosody import count_syllables, speech_frames
from voicelab.engine.synthesis import (
    SAMPLE_RATE,
    OnnxSynthesizer,
    SynthesisConfig,
    SynthesisError,
    SynthesisPool,
    TorchSynthesizer,
    sentence_chunks,
)

TEXT = "Buenos días, gracias por llamar."
OTHER = "Su pedido llegará mañana."


def assert_spoken(audio: np.ndarray, text: str) -> None:
    """Non-silent 24 kHz speech whose length fits the text (2-9 syllables per second)."""
    assert audio.dtype == np.float32 and audio.ndim == 1 and np.isfinite(audio).all()
    energy = speech_frames(audio, SAMPLE_RATE)
    start, end = energy.speech_span()
    rate = count_syllables(text) / (end - start)
    assert 2.0 < rate < 9.0, rate
    assert 0.05 < np.abs(audio).max() <= 1.5


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_spanish_text_becomes_speech(
    backend: str, request: pytest.FixtureRequest, stock_voice: Callable[[str], torch.Tensor]
) -> None:
    synthesizer = request.getfixturevalue(f"{backend}_synthesizer")
    assert_spoken(synthesizer.synthesize(TEXT, stock_voice("ef_dora")), TEXT)


def test_speed_changes_the_length(onnx_synthesizer: OnnxSynthesizer, stock_voice: Callable) -> None:
    voice = stock_voice("em_alex")
    slow, fast = (len(onnx_synthesizer.synthesize(TEXT, voice, speed=s)) for s in (0.8, 1.4))
    assert fast < 0.8 * slow


def test_bad_requests_are_refused(onnx_synthesizer: OnnxSynthesizer, stock_voice: Callable) -> None:
    voice = stock_voice("ef_dora")
    with pytest.raises(SynthesisError, match="Speed"):
        onnx_synthesizer.synthesize(TEXT, voice, speed=3.0)
    with pytest.raises(G2PError, match="empty"):
        onnx_synthesizer.synthesize("   ", voice)
    with pytest.raises(SynthesisError, match="more than"):
        onnx_synthesizer.render(phonemize(TEXT) * 30, voice)


def test_long_texts_are_split_under_the_token_limit(onnx_synthesizer: OnnxSynthesizer, stock_voice: Callable) -> None:
    text = " ".join([TEXT, OTHER] * 12)  # ~700 phonemes: more than one pass
    assert len(phonemize(text)) > 510
    audio = onnx_synthesizer.synthesize(text, stock_voice("ef_dora"))
    single = onnx_synthesizer.synthesize(f"{TEXT} {OTHER}", stock_voice("ef_dora"))
    assert len(audio) > 8 * len(single)


def seeded(render: Callable[[], np.ndarray]) -> np.ndarray:
    """Kokoro's decoder draws noise (harmonic source phases): seed it to compare renders."""
    torch.manual_seed(0)
    return np.asarray(render())


def test_cached_render_is_exactly_kokoros_forward(torch_synthesizer: TorchSynthesizer, stock_voice: Callable) -> None:
    phonemes, voice = phonemize(OTHER), stock_voice("em_santa")
    style = torch_synthesizer.style_row(phonemes, voice)
    torch_synthesizer.clear_text_cache()
    reference = seeded(lambda: torch_synthesizer.model(phonemes, style).numpy())
    first = seeded(lambda: torch_synthesizer.render(phonemes, voice))
    assert torch_synthesizer.cached_texts == 1
    second = seeded(lambda: torch_synthesizer.render(phonemes, voice))  # from the cache
    np.testing.assert_allclose(first, reference, atol=1e-4)
    np.testing.assert_allclose(second, reference, atol=1e-4)


def log_mel(audio: np.ndarray) -> np.ndarray:
    import librosa

    return np.log(librosa.feature.melspectrogram(y=audio, sr=SAMPLE_RATE, n_mels=80) + 1e-6)


def test_batched_voices_match_single_renders(torch_synthesizer: TorchSynthesizer, stock_voice: Callable) -> None:
    phonemes = phonemize(OTHER)
    voices = [stock_voice(name) for name in ("ef_dora", "em_alex", "em_santa")]
    batched = torch_synthesizer.render_many(phonemes, voices)
    for voice, audio in zip(voices, batched, strict=True):
        single = torch_synthesizer.render(phonemes, voice)
        assert len(audio) == len(single)  # the same durations for each voice
        a, b = log_mel(audio).ravel(), log_mel(single).ravel()
        a, b = a - a.mean(), b - b.mean()
        # Same spectra up to the decoder's own noise (its draws differ in a batch).
        assert a @ b / np.linalg.norm(a) / np.linalg.norm(b) > 0.95


def test_two_processes_render_what_one_does(kokoro_assets, stock_voice: Callable) -> None:
    single = OnnxSynthesizer(kokoro_assets, SynthesisConfig(backend="onnx", threads=1))
    with SynthesisPool(kokoro_assets, SynthesisConfig(backend="onnx", threads=1, processes=2)) as pool:
        assert pool.local is None  # the workers hold the models, not this process
        jobs = [pool.job(phonemize(text), stock_voice("ef_dora")) for text in (TEXT, OTHER)]
        parallel = pool.render_many(jobs)
    for job, audio in zip(jobs, parallel, strict=True):
        np.testing.assert_allclose(audio, single.render_style(job.phonemes, job.style, job.speed), atol=1e-4)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, ("onnx", "cpu")),
        ({"KOKORO_BACKEND": "torch"}, ("torch", "cpu")),
        ({"KOKORO_DEVICE": "cuda"}, ("torch", "cuda")),
    ],
)
def test_config_follows_the_device(environ: dict, expected: tuple[str, str]) -> None:
    latency = SynthesisConfig.for_device(throughput=False, environ=environ)
    assert (latency.backend, latency.device) == expected
    throughput = SynthesisConfig.for_device(throughput=True, environ=environ)
    cores = os.cpu_count() or 1
    assert latency.processes == 1 and latency.threads == cores
    if expected == ("onnx", "cpu"):  # onnx on CPU spreads over one single-thread process per core
        assert (throughput.threads, throughput.processes) == (1, cores)
    else:  # torch is one process with every core
        assert (throughput.threads, throughput.processes) == (cores, 1)
    assert SynthesisConfig.for_device(throughput=True, environ={**environ, "KOKORO_THREADS": "3"}).threads == 3


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(SynthesisError, match="Unknown synthesis backend"):
        SynthesisConfig(backend="tensorflow")


@pytest.mark.parametrize(
    ("text", "chunks"),
    [
        # A long first sentence gives up its first clause: it is heard after a fraction of a second.
        (
            "Buenos días, le llamo del servicio técnico para confirmar su cita. ¿Le viene bien?",
            ["Buenos días,", "le llamo del servicio técnico para confirmar su cita.", "¿Le viene bien?"],
        ),
        ("Sí, claro. Ahora mismo.", ["Sí, claro.", "Ahora mismo."]),  # short: kept whole
        ("Sí, le llamo del servicio técnico para confirmar la cita de mañana.", None),  # "Sí," is too short
    ],
)
def test_a_stream_is_cut_at_sentences_and_its_first_clause(text: str, chunks: list[str] | None) -> None:
    expected = [phonemize(chunk) for chunk in chunks] if chunks else [phonemize(text)]
    assert sentence_chunks(phonemize(text)) == expected
