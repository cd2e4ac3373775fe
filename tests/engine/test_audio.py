"""Reading uploads safely, writing WAV atomically, resampling."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from voicelab.engine.audio import (
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE_FATAL,
    SUPPORTED_FORMATS,
    Audio,
    AudioError,
    accepted_extensions,
    read_audio,
    resample,
    write_wav,
)


def encode(samples: np.ndarray, sample_rate: int, audio_format: str = "WAV", subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, sample_rate, format=audio_format, subtype=subtype)
    return buffer.getvalue()


def test_accepted_extensions_match_supported_formats() -> None:
    assert tuple(SUPPORTED_FORMATS) == ("WAV", "FLAC", "OGG", "MP4", "WEBM")
    assert accepted_extensions() == (".wav", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".mp4", ".webm")


def test_reads_the_same_audio_from_path_bytes_and_stream(greeting: Audio, tmp_path: Path) -> None:
    path = tmp_path / "greeting.wav"
    write_wav(path, greeting.samples, greeting.sample_rate)
    for source in (path, str(path), path.read_bytes(), io.BytesIO(path.read_bytes())):
        audio = read_audio(source)
        assert (audio.sample_rate, audio.channels, audio.format) == (22050, 1, "WAV")
        assert audio.samples.dtype == np.float32
        np.testing.assert_array_equal(audio.samples, greeting.samples)
    assert audio.duration == pytest.approx(len(greeting.samples) / 22050)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "empty"),
        (bytes(range(256)) * 20, "not audio that can be read"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 40, "not audio that can be read"),
    ],
    ids=["empty", "random-bytes", "broken-wav-header"],
)
def test_unreadable_bytes_raise_a_readable_error(data: bytes, expected: str) -> None:
    with pytest.raises(AudioError, match=expected) as caught:
        read_audio(data)
    assert "Upload WAV, FLAC, Ogg, M4A or WebM." in str(caught.value)


def test_text_file_named_wav_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "take.wav"
    path.write_text("Buenos días, this is not a recording.\n" * 50)
    with pytest.raises(AudioError, match="not audio that can be read"):
        read_audio(path)


def test_empty_file_on_disk_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "take.flac"
    path.touch()
    with pytest.raises(AudioError, match="empty"):
        read_audio(path)


def test_truncated_wav_yields_only_the_frames_present(greeting: Audio) -> None:
    data = encode(greeting.samples, greeting.sample_rate, subtype="PCM_16")
    audio = read_audio(data[: len(data) // 2])
    assert 0 < len(audio.samples) < len(greeting.samples)
    np.testing.assert_allclose(audio.samples, greeting.samples[: len(audio.samples)], atol=1e-4)


def test_truncated_flac_raises_audio_error(greeting: Audio) -> None:
    data = encode(greeting.samples, greeting.sample_rate, "FLAC")
    with pytest.raises(AudioError):
        read_audio(data[: len(data) // 2])


def test_extensible_wav_header_counts_as_wav(greeting: Audio) -> None:
    assert read_audio(encode(greeting.samples, greeting.sample_rate, "WAVEX")).format == "WAV"


def test_unsupported_format_is_named(greeting: Audio) -> None:
    with pytest.raises(AudioError, match="AIFF files are not accepted"):
        read_audio(encode(greeting.samples, greeting.sample_rate, "AIFF"))


def test_zero_frames_are_refused() -> None:
    with pytest.raises(AudioError, match="no sound"):
        read_audio(encode(np.zeros(0, dtype=np.float32), 16_000))


def test_non_finite_samples_are_refused() -> None:
    samples = np.zeros(16_000, dtype=np.float32)
    samples[100] = np.nan
    with pytest.raises(AudioError, match="not numbers"):
        read_audio(encode(samples, 16_000, subtype="FLOAT"))


# Every codec libsndfile writes into a WAV (it reads MP3 in WAV but cannot write it). It
# calls GSM 6.10, G.721 and NMS ADPCM non-seekable: they cannot be read in one call.
WAV_CODECS = sorted(set(sf.available_subtypes("WAV")) - {"MPEG_LAYER_III"})


@pytest.mark.parametrize("subtype", WAV_CODECS)
def test_every_wav_codec_decodes_to_the_same_speech(greeting: Audio, subtype: str) -> None:
    speech = resample(greeting.samples, greeting.sample_rate, 8_000)  # the telephone codecs' rate
    audio = read_audio(encode(speech, 8_000, subtype=subtype))
    assert (audio.format, audio.sample_rate) == ("WAV", 8_000)
    assert len(speech) <= len(audio.samples) < len(speech) + 512  # block codecs pad the last block
    assert np.corrcoef(audio.samples[: len(speech)], speech)[0, 1] > 0.9


def test_any_wave_format_tag_gives_audio_or_an_audio_error(greeting: Audio) -> None:
    """A hostile header names any codec for the same data; only AudioError may come out."""
    data = encode(greeting.samples[:8_000], 16_000, subtype="PCM_16")
    outcomes = set()
    for tag in range(256):
        mangled = bytearray(data)
        mangled[20] = tag  # the low byte of the fmt chunk's format tag
        try:
            outcomes.add(read_audio(bytes(mangled), max_seconds=60).format)
        except AudioError:
            outcomes.add("refused")
    assert outcomes == {"WAV", "refused"}


def test_a_file_longer_than_a_block_decodes_whole() -> None:
    frames = np.random.default_rng(0).uniform(-0.5, 0.5, (700_000, 3)).astype(np.float32)
    audio = read_audio(encode(frames, 16_000, subtype="FLOAT"))
    assert audio.channels == 3
    np.testing.assert_allclose(audio.samples, frames.mean(axis=1), atol=1e-6)


@pytest.mark.parametrize("rate", [1, MIN_SAMPLE_RATE_FATAL - 1, MAX_SAMPLE_RATE + 1, 2_000_000])
def test_implausible_sample_rates_are_refused_before_the_length(rate: int) -> None:
    with pytest.raises(AudioError, match=f"sample rate is {rate} Hz, which no recording has") as caught:
        read_audio(encode(np.zeros(16_000, dtype=np.float32), rate), max_seconds=60)
    assert "seconds" not in str(caught.value)


@pytest.mark.parametrize("rate", [MIN_SAMPLE_RATE_FATAL, MAX_SAMPLE_RATE])
def test_the_extreme_plausible_sample_rates_are_read(rate: int) -> None:
    assert read_audio(encode(np.zeros(rate, dtype=np.float32), rate)).duration == pytest.approx(1.0)


@pytest.mark.parametrize("opposite_channel", [False, True], ids=["mono", "stereo-cancelling"])
def test_float_samples_far_beyond_full_scale_are_not_a_recording(greeting: Audio, opposite_channel: bool) -> None:
    absurd = greeting.samples / np.abs(greeting.samples).max() * np.float32(1e30)
    frames = np.column_stack([absurd, -absurd]) if opposite_channel else absurd
    with pytest.raises(AudioError, match=r"not a recording: its samples reach 1e\+30 times full scale"):
        read_audio(encode(frames, greeting.sample_rate, subtype="FLOAT"))


def test_float_overs_a_little_above_full_scale_are_kept(greeting: Audio) -> None:
    audio = read_audio(encode(greeting.samples * 3, greeting.sample_rate, subtype="FLOAT"))
    assert np.abs(audio.samples).max() == pytest.approx(3 * np.abs(greeting.samples).max())


def test_stereo_is_mixed_down_to_mono() -> None:
    left = np.full(8_000, 0.5, dtype=np.float32)
    right = np.full(8_000, 0.1, dtype=np.float32)
    audio = read_audio(encode(np.column_stack([left, right]), 16_000, subtype="FLOAT"))
    assert audio.channels == 2
    assert audio.samples.shape == (8_000,)
    np.testing.assert_allclose(audio.samples, 0.3, atol=1e-6)


@pytest.mark.parametrize(("audio_format", "subtype"), [("FLAC", "PCM_16"), ("OGG", "VORBIS")])
def test_flac_and_ogg_round_trip(greeting: Audio, audio_format: str, subtype: str) -> None:
    audio = read_audio(encode(greeting.samples, greeting.sample_rate, audio_format, subtype))
    assert (audio.format, audio.sample_rate) == (audio_format, greeting.sample_rate)
    assert len(audio.samples) == len(greeting.samples)
    # Vorbis is lossy: ask for the same waveform shape, not the same samples.
    assert np.corrcoef(audio.samples, greeting.samples)[0, 1] > 0.95


def aligned_correlation(audio: Audio, reference: Audio) -> float:
    """Waveform correlation once ``audio`` is shifted back by its codec's delay (AAC's
    priming samples, Opus's pre-skip)."""
    decoded = resample(audio.samples, audio.sample_rate, reference.sample_rate)
    lag = int(np.argmax(scipy.signal.correlate(decoded, reference.samples, method="fft")))
    lag -= len(reference.samples) - 1
    length = min(len(decoded) - lag, len(reference.samples))
    return float(np.corrcoef(decoded[lag : lag + length], reference.samples[:length])[0, 1])


@pytest.mark.parametrize(
    ("container", "codec", "audio_format"),
    [("ipod", "aac", "MP4"), ("mp4", "aac", "MP4"), ("webm", "libopus", "WEBM"), ("ogg", "libopus", "OGG")],
    ids=["m4a-safari", "mp4", "webm-chrome", "ogg-opus-firefox"],
)
def test_browser_recordings_decode(
    greeting: Audio, av_encode: Callable[..., bytes], container: str, codec: str, audio_format: str
) -> None:
    audio = read_audio(av_encode(greeting, container, codec), max_seconds=60)
    assert (audio.format, audio.sample_rate, audio.channels) == (audio_format, 48_000, 1)
    assert audio.duration == pytest.approx(greeting.duration, abs=0.1)
    assert aligned_correlation(audio, greeting) > 0.95


def test_an_ogg_libsndfile_cannot_decode_goes_to_ffmpeg(greeting: Audio) -> None:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="ogg") as output:  # 5.1 Opus: libsndfile opens it, then fails
        stream = output.add_stream("libopus", rate=48_000, layout="5.1")
        frame = av.AudioFrame.from_ndarray(np.tile(greeting.samples, (6, 1)), format="fltp", layout="5.1")
        frame.sample_rate = greeting.sample_rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            output.mux(packet)
    audio = read_audio(buffer.getvalue())
    assert (audio.format, audio.channels) == ("OGG", 6)
    assert aligned_correlation(audio, greeting) > 0.95


def test_a_compressed_recording_over_the_limit_is_refused_from_its_duration(
    greeting: Audio, av_encode: Callable[..., bytes]
) -> None:
    with pytest.raises(AudioError, match=r"3\.\d seconds long; the longest allowed is 2 seconds"):
        read_audio(av_encode(greeting, "ipod", "aac"), max_seconds=2)


class ReadTracker(io.BytesIO):
    """A file that remembers how far into it anything read."""

    furthest = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.furthest = max(self.furthest, self.tell())
        return data


def test_a_recording_without_a_duration_is_decoded_only_up_to_the_limit(
    greeting: Audio, av_encode: Callable[..., bytes]
) -> None:
    long = Audio(np.tile(greeting.samples, 6), greeting.sample_rate, 1, "WAV")  # 19 s
    upload = ReadTracker(av_encode(long, "webm", "libopus", live="1"))
    with pytest.raises(AudioError, match="longer than the 2 seconds allowed"):
        read_audio(upload, max_seconds=2)
    assert upload.furthest < len(upload.getvalue()) / 3


@pytest.mark.parametrize(("container", "codec"), [("ipod", "aac"), ("webm", "libopus")])
def test_damaged_browser_recordings_give_audio_or_an_audio_error(
    greeting: Audio, av_encode: Callable[..., bytes], container: str, codec: str
) -> None:
    """Truncated or with bytes overwritten, as a hostile upload is: only AudioError may come out."""
    data = av_encode(greeting, container, codec)
    rng = np.random.default_rng(0)
    outcomes = set()
    for attempt in range(100):
        damaged = bytearray(data[: rng.integers(1, len(data))] if attempt % 4 == 0 else data)
        for position in rng.integers(0, len(damaged), size=8):
            damaged[position] = rng.integers(0, 256)
        try:
            outcomes.add(read_audio(bytes(damaged), max_seconds=60).format)
        except AudioError:
            outcomes.add("refused")
    assert "refused" in outcomes


def test_too_long_is_refused_from_the_header_before_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = encode(np.zeros(3 * 16_000, dtype=np.float32), 16_000)

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("the samples were decoded before the length was checked")

    monkeypatch.setattr(sf.SoundFile, "read", no_decoding)
    with pytest.raises(AudioError, match=r"3\.0 seconds long; the longest allowed is 2 seconds"):
        read_audio(data, max_seconds=2)


def test_length_within_limit_is_accepted() -> None:
    audio = read_audio(encode(np.zeros(16_000, dtype=np.float32), 16_000), max_seconds=2)
    assert audio.duration == pytest.approx(1.0)


def test_write_wav_is_16_bit_mono_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    samples = np.linspace(-0.5, 0.5, 1_000, dtype=np.float32)
    write_wav(path, samples, 16_000)
    info = sf.info(path)
    assert (info.format, info.subtype, info.channels, info.frames) == ("WAV", "PCM_16", 1, 1_000)
    np.testing.assert_allclose(sf.read(path, dtype="float32")[0], samples, atol=1 / 2**15)
    assert [entry.name for entry in tmp_path.iterdir()] == ["out.wav"]


def test_failed_write_keeps_the_old_file_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "out.wav"
    write_wav(path, np.zeros(100, dtype=np.float32), 16_000)
    before = path.read_bytes()

    def half_write(target: Path, *args: object, **kwargs: object) -> None:
        Path(target).write_bytes(b"RIFF")
        raise OSError("disk full")

    monkeypatch.setattr(sf, "write", half_write)
    with pytest.raises(OSError, match="disk full"):
        write_wav(path, np.ones(100, dtype=np.float32), 16_000)
    assert path.read_bytes() == before
    assert [entry.name for entry in tmp_path.iterdir()] == ["out.wav"]


def test_write_wav_refuses_multichannel(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mono"):
        write_wav(tmp_path / "out.wav", np.zeros((100, 2), dtype=np.float32), 16_000)


def test_resample_changes_length_and_keeps_equal_rates_untouched(greeting: Audio) -> None:
    assert resample(greeting.samples, 22_050, 22_050) is greeting.samples
    resampled = resample(greeting.samples, 22_050, 16_000)
    assert len(resampled) == pytest.approx(len(greeting.samples) * 16_000 / 22_050, abs=1)
    assert resampled.dtype == np.float32
