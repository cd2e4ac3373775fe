"""When each word is spoken, from Kokoro's predicted durations: for subtitles and barge-in.

Kokoro predicts how many frames each phoneme token lasts; a word's time is the span of its
tokens. Words are matched by position: espeak-ng writes one phoneme word per spoken word
(numbers spelled out first, see ``g2p``), which holds for every sentence of the corpus. When
a text's counts differ, the phoneme words are given instead, so that no timing is invented.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from voicelab.engine.g2p import spoken_text

PUNCTUATION = frozenset(';:,.!?¡¿—…"«»“”()')


@dataclass(frozen=True)
class WordTiming:
    word: str
    start: float  # seconds from the start of the audio
    end: float

    def as_dict(self) -> dict[str, float | str]:
        """The shape Kokoro-FastAPI's captioned speech answers with."""
        return {"word": self.word, "start_time": round(self.start, 3), "end_time": round(self.end, 3)}


@dataclass(frozen=True)
class TimedChunk:
    """One rendered chunk: its phonemes, the frames each token lasted, and where it starts
    and how long it lasts in the whole audio."""

    phonemes: str
    durations: np.ndarray  # frames per token, the pad tokens at both ends included
    offset: float
    seconds: float


def chunk_words(phonemes: str, durations: np.ndarray, vocab: dict[str, int]) -> list[tuple[str, float, float]]:
    """Each phoneme word with its (start, end) as fractions of the chunk: from its first to its
    last sound, the punctuation around it left out (Kokoro gives a full stop the pause after
    it). Characters outside Kokoro's vocabulary are dropped, as its tokenizer does; the
    leading pad token comes first."""
    frames = np.concatenate([[0], np.cumsum(durations)])
    total = float(frames[-1])
    spans: list[tuple[str, float, float]] = []
    token = 1
    for word in phonemes.split():
        sounds = [token + i for i, char in enumerate(c for c in word if c in vocab) if char not in PUNCTUATION]
        if sounds:
            spans.append((word, float(frames[sounds[0]] / total), float(frames[sounds[-1] + 1] / total)))
        token += sum(char in vocab for char in word) + (" " in vocab)
    return spans


def word_timings(text: str, chunks: Sequence[TimedChunk], vocab: dict[str, int]) -> list[WordTiming]:
    """Every word of ``text`` with when it is spoken in the audio the chunks make up.

    The durations predicted for a chunk are scaled to its audio's real length: the model that
    rendered it (the int8 graph) may round a few frames differently from the one that timed it."""
    timed = [
        (word, chunk.offset + start * chunk.seconds, chunk.offset + end * chunk.seconds)
        for chunk in chunks
        for word, start, end in chunk_words(chunk.phonemes, chunk.durations, vocab)
    ]
    words = spoken_text(text).split()
    if len(words) != len(timed):
        words = [word for word, _, _ in timed]
    return [WordTiming(word, start, end) for word, (_, start, end) in zip(words, timed, strict=True)]
