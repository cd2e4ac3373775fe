"""The audio formats the TTS service answers in, with no ffmpeg binary needed.

``soundfile``'s bundled libsndfile 1.2.2 writes WAV, raw PCM, FLAC and Ogg Opus; MP3 comes from
PyAV (the libmp3lame inside its wheel). An :class:`Encoder` turns audio into a format piece by
piece: each ``feed`` returns the bytes that are ready to send, so a response can stream while
the rest of the text is still being synthesized.

Streaming and headers: libsndfile writes some headers with lengths it knows only when the file
is closed, then goes back and fixes them. A streamed response has already sent those bytes, so
the fix is dropped. Decoders accept the unknown length of a WAV or an Ogg stream (libsndfile
and ffmpeg read them to the end). An MP3's length lives in a first "Xing" frame, and libmpg123
(libsndfile's reader) trusts a stale one and stops early, so MP3 is written by PyAV to an
output that cannot seek, for which its muxer writes no such frame. FLAC readers do not all
accept an unknown length, so FLAC is never streamed: it is sent whole, with its real header.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
import numpy as np
import soundfile as sf

SAMPLE_RATE = 24_000


@dataclass(frozen=True)
class AudioFormat:
    name: str
    media_type: str
    container: str  # libsndfile's major format, or PyAV's (ffmpeg's) muxer for ``codec``
    subtype: str
    streams: bool  # can it be sent before the whole audio exists
    codec: str = ""  # PyAV's encoder; empty: libsndfile writes it


FORMATS: dict[str, AudioFormat] = {
    f.name: f
    for f in (
        AudioFormat("wav", "audio/wav", "WAV", "PCM_16", streams=True),
        AudioFormat("pcm", "audio/pcm", "RAW", "PCM_16", streams=True),  # 24 kHz, 16-bit little-endian, mono
        AudioFormat("mp3", "audio/mpeg", "mp3", "", streams=True, codec="libmp3lame"),
        AudioFormat("opus", "audio/ogg", "OGG", "OPUS", streams=True),  # Opus in Ogg, as OpenAI sends it
        AudioFormat("flac", "audio/flac", "FLAC", "PCM_16", streams=False),
    )
}


class _Sink(io.RawIOBase):
    """A seekable in-memory file that remembers how much of it has been handed out."""

    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()
        self.position = 0
        self.sent = 0

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, chunk: bytes) -> int:  # type: ignore[override]
        end = self.position + len(chunk)
        if end > len(self.data):
            self.data.extend(bytes(end - len(self.data)))
        self.data[self.position : end] = chunk
        self.position = end
        return len(chunk)

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size is None or size < 0 else self.position + size
        chunk = bytes(self.data[self.position : end])
        self.position += len(chunk)
        return chunk

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: len(self.data)}[whence]
        self.position = base + offset
        return self.position

    def tell(self) -> int:
        return self.position

    def take(self) -> bytes:
        """The bytes written past what was handed out before."""
        chunk = bytes(self.data[self.sent :])
        self.sent = len(self.data)
        return chunk


class _Output:
    """Where PyAV writes: appended to, never sought (so its MP3 muxer writes no Xing frame)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.sent = 0

    def write(self, chunk: bytes) -> int:
        self.data += chunk
        return len(chunk)

    def take(self) -> bytes:
        chunk = bytes(self.data[self.sent :])
        self.sent = len(self.data)
        return chunk


class Encoder:
    """Mono float audio at ``rate`` into ``audio_format``, piece by piece when ``stream`` is
    asked and the format streams, otherwise whole at the end."""

    MP3_BIT_RATE = 64_000  # mono speech at 24 kHz

    def __init__(self, audio_format: AudioFormat, *, stream: bool, rate: int = SAMPLE_RATE) -> None:
        self.format, self.rate = audio_format, rate
        self.streaming = stream and audio_format.streams
        if audio_format.codec:
            self._sink: _Sink | _Output = _Output()
            self._container = av.open(self._sink, mode="w", format=audio_format.container)
            self._stream = self._container.add_stream(audio_format.codec, rate=rate, layout="mono")
            self._stream.bit_rate = self.MP3_BIT_RATE
        else:
            self._sink = _Sink()
            self._file = sf.SoundFile(
                self._sink,
                "w",
                samplerate=rate,
                channels=1,
                format=audio_format.container,
                subtype=audio_format.subtype,
                endian="LITTLE" if audio_format.container == "RAW" else "FILE",
            )

    def feed(self, audio: np.ndarray) -> bytes:
        """Encode ``audio``; returns what is ready to send (nothing when not streaming)."""
        audio = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
        if self.format.codec:
            frame = av.AudioFrame.from_ndarray(audio[None, :], format="fltp", layout="mono")
            frame.sample_rate = self.rate
            self._mux(frame)
        else:
            self._file.write(audio)
        return self._sink.take() if self.streaming else b""

    def finish(self) -> bytes:
        """The rest of the stream, or the whole file with its final headers."""
        if self.format.codec:
            self._mux(None)
            self._container.close()
        else:
            self._file.close()
        return self._sink.take() if self.streaming else bytes(self._sink.data)

    def _mux(self, frame: av.AudioFrame | None) -> None:
        for packet in self._stream.encode(frame):  # None flushes the encoder
            self._container.mux(packet)


def encode(audio: np.ndarray, audio_format: AudioFormat, rate: int = SAMPLE_RATE) -> bytes:
    """A whole file, its headers complete."""
    encoder = Encoder(audio_format, stream=False, rate=rate)
    encoder.feed(audio)
    return encoder.finish()
