"""Stage 1 from labeled recordings: 20-30 s of the best takes, 24 kHz, -23 LUFS, with transcript."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from voicelab.engine.reference import (
    PAUSE_SECONDS,
    SAMPLE_RATE,
    Clip,
    NotEnoughMaterial,
    build_reference,
    read_segments,
    write_reference,
)

SENTENCES = (
    "Buenos días, gracias por llamar a nuestro servicio.",
    "Bienvenido a nuestro servicio de atención al cliente.",
    "Gracias por su llamada, que tenga un buen día.",
    "Buenas tardes, le atiende el departamento de facturación.",
    "Encantada de hablar con usted, ¿en qué puedo ayudarle?",
    "Le damos la bienvenida a nuestra línea de atención.",
    "Muchas gracias por su paciencia y por confiar en nosotros.",
    "Ha sido un placer atenderle, hasta pronto.",
    "Le saludamos desde el servicio técnico.",
    "Buenos días, está llamando al servicio de reservas.",
)


@pytest.fixture(scope="module")
def clips(speak: Callable) -> list[Clip]:
    """espeak takes at its own 22.05 kHz, quieter and louder, with qualities 1.0 down to 0.55."""
    return [
        Clip(audio.samples, audio.sample_rate, text, quality=1.0 - 0.05 * i)
        for i, text in enumerate(SENTENCES)
        for audio in [speak(text, amplitude=40 + 10 * i)]
    ]


def test_reference_is_20_to_30_seconds_at_24k_and_minus_23_lufs(clips: list[Clip]) -> None:
    reference = build_reference(clips)
    audio, transcript = reference.audio, reference.transcript
    seconds = len(audio) / SAMPLE_RATE
    assert 20 <= seconds <= 30
    assert pyloudnorm.Meter(SAMPLE_RATE).integrated_loudness(audio) == pytest.approx(-23.0, abs=0.5)
    assert np.abs(audio).max() < 1.0
    used = transcript.count(".") + transcript.count("?")
    assert transcript.startswith(SENTENCES[0]) and used < len(SENTENCES)  # best first, and only what is needed
    assert SENTENCES[-1] not in transcript  # the worst take was not needed


def test_too_little_material_names_the_missing_seconds(clips: list[Clip]) -> None:
    with pytest.raises(NotEnoughMaterial, match=r"needs 20 s: \d+\.\d s more"):
        build_reference(clips[:3])


def test_silent_takes_do_not_count(clips: list[Clip]) -> None:
    silent = Clip(np.zeros(22_050 * 20, dtype=np.float32), 22_050, "Silencio.", quality=1.0)
    with pytest.raises(NotEnoughMaterial):
        build_reference([silent, *clips[:2]])


def test_written_beside_its_transcript_and_sentence_spans(clips: list[Clip], tmp_path: Path) -> None:
    reference = build_reference(clips)
    path = tmp_path / "reference_audio" / "amable" / "target.wav"
    write_reference(reference, path)
    info = sf.info(path)
    assert (info.samplerate, info.channels) == (SAMPLE_RATE, 1)
    assert path.with_suffix(".txt").read_text(encoding="utf-8").strip() == reference.transcript
    segments = read_segments(path)
    assert [s.text for s in segments] == list(SENTENCES[: len(segments)])
    # Spans follow each other with a pause between, and the last one ends with the audio.
    assert all(b.start - a.end == pytest.approx(PAUSE_SECONDS, abs=1e-3) for a, b in itertools.pairwise(segments))
    assert segments[-1].end == pytest.approx(info.frames / SAMPLE_RATE, abs=1e-3)
    # Each span holds speech: an excerpt is no quieter than the whole.
    excerpt = reference.excerpt(0)
    assert len(excerpt) / SAMPLE_RATE == pytest.approx(segments[0].end - segments[0].start, abs=1e-3)
    assert np.sqrt(np.mean(excerpt**2)) > 0.5 * np.sqrt(np.mean(reference.audio**2))
