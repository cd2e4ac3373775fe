"""Reading and writing audio safely.

Uploads come from people, so every way a file can be wrong ends in an
``AudioError`` whose text can be shown to them as-is.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
import librosa
import numpy as np
import soundfile as sf

from voicelab.engine.errors import EngineError
from voicelab.engine.files import atomic_path
from voicelab.engine.messages import Message

# Containers accepted for recordings, as soundfile names them, with the file endings they
# come under. libsndfile reads more (AIFF, MP3...), but the upload form promises only these.
# MP4 (AAC: Safari's MediaRecorder) and WebM (Opus: Chrome's and Firefox's) are decoded by
# FFmpeg through PyAV, and so is an Ogg file libsndfile cannot decode.
SUPPORTED_FORMATS: dict[str, tuple[str, ...]] = {
    "WAV": (".wav",),
    "FLAC": (".flac",),
    "OGG": (".ogg", ".oga", ".opus"),
    "MP4": (".m4a", ".mp4"),
    "WEBM": (".webm",),
}

# Recorders that write more than 16 bits or more than two channels use the
# WAVE_FORMAT_EXTENSIBLE header, which soundfile reports as a format of its own.
_FORMAT_ALIASES: dict[str, str] = {"WAVEX": "WAV"}


# The containers handed to FFmpeg: (offset, signature, format, FFmpeg demuxer). The demuxer
# is chosen from the signature, so FFmpeg never guesses a format for a hostile file.
_AV_CONTAINERS: tuple[tuple[int, bytes, str, str], ...] = (
    (4, b"ftyp", "MP4", "mp4"),
    (0, b"\x1aE\xdf\xa3", "WEBM", "matroska"),  # the EBML header of WebM and Matroska
    (0, b"OggS", "OGG", "ogg"),
)

# Sample rates. 16 kHz keeps everything speech models use; 8 kHz (telephone band) still
# works for prosody but loses the upper formants; below 8 kHz speech is unintelligible.
# 384 kHz is the fastest studio converters run. A header outside 8-384 kHz (a crafted
# 1 Hz, say) describes no recording, so it is refused before its length is computed.
MIN_SAMPLE_RATE = 16_000
MIN_SAMPLE_RATE_FATAL = 8_000
MAX_SAMPLE_RATE = 384_000
# Float files may carry overs above full scale (a mix bus before its limiter), a few dB at
# most. 4x full scale (+12 dBFS) leaves room for those and refuses numbers that are not
# sound at all (1e30), which would otherwise be stored clipped as if they were a take.
MAX_PEAK = 4.0
# Decoding goes a block at a time (4 MB of float32), mixed down as it goes, so memory follows
# the mono length however many channels a header claims.
_BLOCK_SAMPLES = 1 << 20


class AudioError(EngineError):
    """Audio that cannot be used; ``str()`` is a sentence for the person who sent it, and its
    argument a :class:`Message` a page shows in the reader's language."""


@dataclass(frozen=True, eq=False)  # eq=False: comparing arrays with == is ambiguous
class Audio:
    """Decoded audio, mixed down to mono float32 (full scale is 1.0)."""

    samples: np.ndarray
    sample_rate: int
    channels: int
    format: str

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sample_rate


def accepted_extensions() -> tuple[str, ...]:
    """File name endings an upload form should accept, e.g. ``(".wav", ...)``."""
    return tuple(extension for extensions in SUPPORTED_FORMATS.values() for extension in extensions)


def read_audio(source: str | Path | bytes | BinaryIO, *, max_seconds: float | None = None) -> Audio:
    """Decode ``source`` to mono, refusing anything a person should fix first.

    The length limit is checked from the header, before decoding, so an
    over-long upload never gets loaded into memory; a container that does not
    record its length (a browser's WebM) is decoded only up to the limit. A
    truncated file yields the frames that are actually present (libsndfile
    trusts the data, not the header).
    A missing path raises ``FileNotFoundError``: that is a storage fault, not the
    uploader's. Streams must be seekable, as Django's uploaded files are.
    """
    if isinstance(source, (str, Path)):
        with open(source, "rb") as stream:
            return _read_stream(stream, max_seconds)
    if isinstance(source, (bytes, bytearray)):
        return _read_stream(io.BytesIO(source), max_seconds)
    return _read_stream(source, max_seconds)


def _read_stream(stream: BinaryIO, max_seconds: float | None) -> Audio:
    if _is_empty(stream):
        raise AudioError(Message("The file is empty. Upload WAV, FLAC, Ogg, M4A or WebM."))
    start = stream.tell()
    try:
        return _read_with_sndfile(stream, max_seconds)
    # TypeError: soundfile's answer when a file *named* .raw has no header to read.
    except (sf.SoundFileError, TypeError):
        stream.seek(start)
        return _read_with_av(stream, max_seconds)


def _is_empty(stream: BinaryIO) -> bool:
    """Whether nothing is left to read, without consuming the stream."""
    position = stream.tell()
    is_empty = stream.seek(0, os.SEEK_END) == position
    stream.seek(position)
    return is_empty


def _read_with_sndfile(stream: BinaryIO, max_seconds: float | None) -> Audio:
    with sf.SoundFile(stream) as sound:
        audio_format = _FORMAT_ALIASES.get(sound.format, sound.format)
        _check_format(audio_format, sound.samplerate)
        _check_length(sound.frames / sound.samplerate, max_seconds)
        samples = _gather(_blocks(sound), sound.samplerate, max_seconds)
        return Audio(samples, sound.samplerate, sound.channels, audio_format)


def _unreadable() -> AudioError:
    return AudioError(
        Message(
            "The file is not audio that can be read (corrupt or unsupported format). "
            "Upload WAV, FLAC, Ogg, M4A or WebM."
        )
    )


def _read_with_av(stream: BinaryIO, max_seconds: float | None) -> Audio:
    """Decode what libsndfile could not (MP4, WebM, 5.1 Opus in Ogg...) if it is in a
    container FFmpeg is trusted with."""
    start = stream.tell()
    head = stream.read(max(offset + len(signature) for offset, signature, _, _ in _AV_CONTAINERS))
    stream.seek(start)
    for offset, signature, audio_format, demuxer in _AV_CONTAINERS:  # noqa: B007 - the match is used below
        if head[offset : offset + len(signature)] == signature:
            break
    else:
        raise _unreadable()
    try:
        with av.open(stream, format=demuxer, metadata_errors="ignore") as container:
            return _decode_track(container, audio_format, max_seconds)
    except AudioError:
        raise
    # ValueError: PyAV's, e.g. for a stream whose sample rate changes midway.
    except (av.FFmpegError, ValueError) as error:
        raise _unreadable() from error


def _decode_track(container: av.container.InputContainer, audio_format: str, max_seconds: float | None) -> Audio:
    # A track without a codec context is in a codec this FFmpeg build cannot decode.
    track = next((track for track in container.streams.audio if track.codec_context), None)
    if track is None:
        raise AudioError(
            Message("The file has no sound track that can be decoded. Upload WAV, FLAC, Ogg, M4A or WebM.")
        )
    rate = track.codec_context.sample_rate
    _check_format(audio_format, rate)
    if container.duration is not None:  # a browser's WebM does not record it
        _check_length(container.duration / av.time_base, max_seconds)
    samples = _gather(_av_blocks(container, track), rate, max_seconds)
    return Audio(samples, rate, track.codec_context.channels, audio_format)


def _av_blocks(container: av.container.InputContainer, track: av.AudioStream) -> Iterator[np.ndarray]:
    """The decoded frames of ``track`` as (frames, channels) float32 blocks, as they come."""
    planar = av.AudioResampler(format="fltp")  # only the sample format changes
    for frame in container.decode(track):
        for converted in planar.resample(frame):
            yield converted.to_ndarray().T


def _check_format(audio_format: str, sample_rate: int) -> None:
    if audio_format not in SUPPORTED_FORMATS:
        raise AudioError(
            Message("{format} files are not accepted. Upload WAV, FLAC, Ogg, M4A or WebM.", {"format": audio_format})
        )
    if not MIN_SAMPLE_RATE_FATAL <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioError(
            Message(
                "The file says its sample rate is {rate} Hz, which no recording has: recordings run at "
                "{lowest} to {highest} Hz ({wanted} Hz or more is recommended).",
                {
                    "rate": sample_rate,
                    "lowest": MIN_SAMPLE_RATE_FATAL,
                    "highest": MAX_SAMPLE_RATE,
                    "wanted": MIN_SAMPLE_RATE,
                },
            )
        )


def _check_length(seconds: float, max_seconds: float | None) -> None:
    if max_seconds is not None and seconds > max_seconds:
        raise AudioError(
            Message(
                "The recording is {seconds:.1f} seconds long; the longest allowed is {limit:.0f} seconds.",
                {"seconds": seconds, "limit": max_seconds},
            )
        )


def _blocks(sound: sf.SoundFile) -> Iterator[np.ndarray]:
    """The frames of ``sound`` a block at a time, until the data ends.

    Reading to the end of the data rather than the header's frame count is what decodes
    the codecs libsndfile calls non-seekable (GSM 6.10, G.721), which it cannot read in
    one call, and what keeps a truncated file to the frames it really holds.
    """
    size = max(1, _BLOCK_SAMPLES // sound.channels)
    while len(block := sound.read(size, dtype="float32", always_2d=True)):
        yield block


def _gather(blocks: Iterable[np.ndarray], sample_rate: int, max_seconds: float | None) -> np.ndarray:
    """The blocks mixed down to mono, refused as soon as they run past ``max_seconds``.

    This catches the length a header did not announce, or announced wrongly.
    """
    limit = math.inf if max_seconds is None else max_seconds * sample_rate
    parts: list[np.ndarray] = []
    count = 0
    for block in blocks:
        count += len(block)
        if count > limit:
            raise AudioError(
                Message("The recording is longer than the {limit:.0f} seconds allowed.", {"limit": max_seconds})
            )
        parts.append(_mix_down(block))
    # Checked after decoding: a truncated file can hold fewer frames than its header says.
    if not count:
        raise AudioError(Message("The file contains no sound: it has zero audio samples."))
    return np.concatenate(parts)


def _mix_down(block: np.ndarray) -> np.ndarray:
    """A (frames, channels) block as mono, once its samples are known to be sound."""
    if not np.isfinite(block).all():
        raise AudioError(Message("The file is damaged: some of its samples are not numbers."))
    # Per channel, before mixing: opposite channels of absurd numbers would cancel out.
    peak = float(np.abs(block).max(initial=0.0))
    if peak > MAX_PEAK:
        raise AudioError(
            Message(
                "The file is not a recording: its samples reach {peak:.3g} times full scale, where a recording "
                "stays within {limit:g} times.",
                {"peak": peak, "limit": MAX_PEAK},
            )
        )
    return block.mean(axis=1, dtype=np.float32)


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write mono 16-bit PCM WAV so that ``path`` is either complete or absent.

    The data goes to a temporary file in the same directory, synced and renamed
    onto ``path`` (see ``files.atomic_path``).
    """
    if samples.ndim != 1:
        raise ValueError(f"write_wav expects mono samples, got shape {samples.shape}.")
    with atomic_path(Path(path)) as temp:
        sf.write(temp, samples, sample_rate, format="WAV", subtype="PCM_16")


def resample(samples: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Change the sample rate; returns ``samples`` itself when nothing changes."""
    if orig_sr == target_sr:
        return samples
    return librosa.resample(samples, orig_sr=orig_sr, target_sr=target_sr)


def waveform_peaks(samples: np.ndarray, *, bins: int = 160) -> list[float]:
    """The take's outline for a small drawing: the peak of each of ``bins`` equal slices,
    relative to the loudest (0-1), so a quiet take still shows its shape. Fewer slices
    when there are fewer samples; an empty or silent clip gives zeros."""
    count = min(bins, len(samples))
    if count == 0:
        return []
    peaks = np.array([np.abs(part).max() for part in np.array_split(samples, count)], dtype=np.float64)
    loudest = peaks.max()
    return [round(float(p), 3) for p in (peaks / loudest if loudest > 0 else peaks)]
