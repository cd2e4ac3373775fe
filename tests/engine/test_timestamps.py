"""Word timings from Kokoro's predicted durations: which tokens make a word, the durations the
models really used, and timings that agree with where the audio has speech."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from voicelab.engine.g2p import phonemize, spoken_text
from voicelab.engine.prosody import speech_frames
from voicelab.engine.synthesis import SAMPLE_RATE
from voicelab.engine.timestamps import TimedChunk, chunk_words, word_timings

VOCAB = {"a": 1, "b": 2, "c": 3, "d": 4, " ": 5}
TEXT = "Buenos días, le atiende Laura. Su cita es el 3 de marzo."


def test_a_words_span_is_its_tokens_past_the_leading_pad() -> None:
    # pad 2 | a 1, b 1 | space 2 | c 3, (ʔ dropped), d 1, full stop 4 | pad 2: 16 frames
    spans = chunk_words("ab cʔd.", np.array([2, 1, 1, 2, 3, 1, 4, 2]), {**VOCAB, ".": 6})
    assert spans == [("ab", 2 / 16, 4 / 16), ("cʔd.", 6 / 16, 10 / 16)]  # the stop's pause is not the word


def test_timings_follow_the_texts_words_or_else_the_phonemes() -> None:
    chunks = [TimedChunk("ab cd", np.array([2, 1, 1, 2, 3, 1, 2]), offset=1.0, seconds=1.2)]
    timed = word_timings("Hola mundo", chunks, VOCAB)
    assert [(t.word, t.start, t.end) for t in timed] == [("Hola", 1.2, 1.4), ("mundo", 1.6, 2.0)]
    # Counts that differ: the phoneme words, never a text word at the wrong place.
    assert [t.word for t in word_timings("Hola", chunks, VOCAB)] == ["ab", "cd"]


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_the_durations_are_the_ones_the_audio_was_rendered_with(
    backend: str, onnx_synthesizer, torch_synthesizer, stock_voice
) -> None:
    """Kokoro makes 600 samples a frame: the predicted frames add up to the audio's length
    (for the int8 graph too, whose durations come from the PyTorch predictor)."""
    synthesizer = {"onnx": onnx_synthesizer, "torch": torch_synthesizer}[backend]
    phonemes = phonemize("Buenos días, le atiende Laura.")
    row = synthesizer.style_row(phonemes, stock_voice("ef_dora"))
    durations = synthesizer.durations(phonemes, row)
    assert len(durations) == len(synthesizer.token_ids(phonemes)) + 2
    assert durations.sum() * 600 == len(synthesizer.render_style(phonemes, row))


def test_the_words_start_and_end_where_the_audio_has_speech(onnx_synthesizer, stock_voice) -> None:
    """Checked against the audio itself (its speech frames by energy), not the durations."""
    phonemes = phonemize(TEXT)
    row = onnx_synthesizer.style_row(phonemes, stock_voice("ef_dora"))
    audio = onnx_synthesizer.render_style(phonemes, row)
    chunk = TimedChunk(phonemes, onnx_synthesizer.durations(phonemes, row), 0.0, len(audio) / SAMPLE_RATE)
    timed = word_timings(TEXT, [chunk], onnx_synthesizer.vocab)

    assert [t.word for t in timed] == spoken_text(TEXT).split() and timed[9].word == "tres"  # "3"
    assert all(a.end <= b.start for a, b in itertools.pairwise(timed))
    speech = speech_frames(audio, SAMPLE_RATE)
    voiced = np.flatnonzero(speech.is_speech) * speech.hop_seconds
    assert abs(timed[0].start - voiced[0]) < 0.1 and abs(timed[-1].end - voiced[-1]) < 0.1
    for timing in timed:  # every word holds speech
        inside = speech.is_speech[int(timing.start / speech.hop_seconds) : int(timing.end / speech.hop_seconds) + 1]
        assert inside.any(), timing
