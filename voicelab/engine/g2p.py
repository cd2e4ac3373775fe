"""Spanish grapheme-to-phoneme conversion, shared by both synthesis backends.

misaki's espeak backend is what the ``kokoro`` package uses for ``lang_code="e"``;
it runs on the libespeak-ng bundled in the ``espeakng-loader`` wheel (GPL-3.0),
so no system package is needed. Numbers, amounts, times, dates and phone numbers are
written out in words first (``spoken_numbers``): espeak-ng misreads most of them. Phonemes
are cached per text: the evolution loop renders the same few sentences thousands of times.
"""

from __future__ import annotations

import threading
from functools import cache, lru_cache

from voicelab.engine.errors import EngineError
from voicelab.engine.spoken_numbers import spell_numbers

# espeak-ng keeps process-global state: two threads phonemizing at once corrupt each other.
_ESPEAK_LOCK = threading.Lock()


class G2PError(EngineError):
    """Text that yields no phonemes; the message says so."""


@cache
def _espeak():  # noqa: ANN202 - misaki has no type stubs
    from misaki import espeak

    return espeak.EspeakG2P(language="es")


def spoken_text(text: str) -> str:
    """The words as they are spoken (numbers written out), one space apart: what is phonemized."""
    return " ".join(spell_numbers(text).split())


@lru_cache(maxsize=4096)
def phonemize(text: str) -> str:
    """IPA phonemes of a Spanish text, as Kokoro's vocabulary spells them."""
    cleaned = spoken_text(text)
    if not cleaned:
        raise G2PError("The text is empty.")
    with _ESPEAK_LOCK:
        phonemes, _ = _espeak()(cleaned)
    phonemes = " ".join(phonemes.split())
    if not phonemes:
        raise G2PError(f"The text {text[:60]!r} has nothing to pronounce.")
    return phonemes
