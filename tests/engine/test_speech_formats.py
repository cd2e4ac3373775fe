"""Every format the TTS service answers in, encoded whole and streamed, decoded back."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voicelab.engine.speech_formats import FORMATS, Encoder, encode

RATE = 24_000
TONE = (0.3 * np.sin(2 * np.pi * 220 * np.arange(RATE) / RATE)).astype(np.float32)  # 1 s


def decode(data: bytes, name: str, tmp_path: Path) -> tuple[np.ndarray, int]:
    """The audio back, by libsndfile (from a file: it reads MP3 only from a path)."""
    if name == "pcm":
        return np.frombuffer(data, "<i2").astype(np.float32) / 32768, RATE
    path = tmp_path / f"decoded.{name}"
    path.write_bytes(data)
    return sf.read(path, dtype="float32")


@pytest.mark.parametrize("name", FORMATS)
def test_a_whole_file_decodes_to_the_same_second(name: str, tmp_path: Path) -> None:
    audio, rate = decode(encode(TONE, FORMATS[name]), name, tmp_path)
    assert rate == RATE and audio.ndim == 1
    assert abs(len(audio) / rate - 1.0) < 0.1  # MP3 and Opus pad a few frames
    assert np.sqrt(np.mean(audio**2)) == pytest.approx(0.3 / np.sqrt(2), rel=0.15)


@pytest.mark.parametrize("name", [name for name, f in FORMATS.items() if f.streams])
def test_a_stream_sends_bytes_before_the_end_and_decodes_whole(name: str, tmp_path: Path) -> None:
    encoder = Encoder(FORMATS[name], stream=True)
    pieces = [encoder.feed(TONE) for _ in range(3)]
    assert pieces[0], "the first second is sent before the rest exists"
    audio, rate = decode(b"".join([*pieces, encoder.finish()]), name, tmp_path)
    assert rate == RATE and abs(len(audio) / rate - 3.0) < 0.15


def test_pcm_is_raw_16_bit_little_endian() -> None:
    data = encode(np.array([0.5, -0.5], dtype=np.float32), FORMATS["pcm"])
    assert data == np.array([16384, -16384], dtype="<i2").tobytes()


def test_flac_is_sent_whole_with_its_real_header(tmp_path: Path) -> None:
    encoder = Encoder(FORMATS["flac"], stream=True)
    assert encoder.feed(TONE) == b""  # FLAC readers need the length in the header
    data = encoder.finish()
    assert sf.info(io.BytesIO(data)).frames == RATE
