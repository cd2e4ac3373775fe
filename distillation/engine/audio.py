"""Reading and writing audio safely.

Uploads come from people, so every way a file can be wrong ends in an
``AudioError`` whose text can be shown to them as-is.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import librosa
import numpy as np
import soundfile as sf

from distillation.engine.files import atomic_path

# Containers accepted for recordings, as soundfile names them. libsndfile reads
# more (AIFF, MP3...), but the upload form promises only these.
SUPPORTED_FORMATS: tuple[str, ...] = ("WAV", "FLAC", "OGG")

# Recorders that write more than 16 bits or more than two channels use the
# WAVE_FORMAT_EXTENSIBLE header, which soundfile reports as a format of its own.
_FORMAT_ALIASES: dict[str, str] = {"WAVEX": "WAV"}

_ACCEPTED_HINT = "Upload WAV, FLAC or OGG."


class AudioError(ValueError):
    """Audio that cannot be used; ``str()`` is a sentence for the person who sent it."""


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
    return tuple(f".{name.lower()}" for name in SUPPORTED_FORMATS)


def read_audio(source: str | Path | bytes | BinaryIO, *, max_seconds: float | None = None) -> Audio:
    """Decode ``source`` to mono, refusing anything a person should fix first.

    The length limit is checked from the header, before decoding, so an
    over-long upload never gets loaded into memory. A truncated file yields the
    frames that are actually present (libsndfile trusts the data, not the header).
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
        raise AudioError(f"The file is empty. {_ACCEPTED_HINT}")
    try:
        with sf.SoundFile(stream) as sound:
            audio_format = _FORMAT_ALIASES.get(sound.format, sound.format)
            _check_header(audio_format, sound.frames, sound.samplerate, max_seconds)
            frames = sound.read(dtype="float32", always_2d=True)
            channels = sound.channels
            sample_rate = sound.samplerate
    # TypeError: soundfile's answer when a file *named* .raw has no header to read.
    except (sf.SoundFileError, TypeError) as error:
        raise AudioError(
            "The file is not audio that can be read (corrupt or unsupported format). "
            + _ACCEPTED_HINT
        ) from error
    return Audio(_mono(frames), sample_rate, channels, audio_format)


def _is_empty(stream: BinaryIO) -> bool:
    """Whether nothing is left to read, without consuming the stream."""
    position = stream.tell()
    is_empty = stream.seek(0, os.SEEK_END) == position
    stream.seek(position)
    return is_empty


def _check_header(
    audio_format: str, frames: int, sample_rate: int, max_seconds: float | None
) -> None:
    if audio_format not in SUPPORTED_FORMATS:
        raise AudioError(f"{audio_format} files are not accepted. {_ACCEPTED_HINT}")
    seconds = frames / sample_rate
    if max_seconds is not None and seconds > max_seconds:
        raise AudioError(
            f"The recording is {seconds:.1f} seconds long; "
            f"the longest allowed is {max_seconds:.0f} seconds."
        )


def _mono(frames: np.ndarray) -> np.ndarray:
    # Checked after decoding: a truncated file can hold fewer frames than its header says.
    if len(frames) == 0:
        raise AudioError("The file contains no sound: it has zero audio samples.")
    if not np.isfinite(frames).all():
        raise AudioError("The file is damaged: some of its samples are not numbers.")
    return frames.mean(axis=1, dtype=np.float32)


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
