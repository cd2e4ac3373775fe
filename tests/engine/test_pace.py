"""A style's pace, measured on its reference against neutral's, with real Kokoro speech."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from voicelab.engine.pace import relative_pace, speech_rate
from voicelab.engine.reference import Reference, Segment, read_speech_rate, write_reference

TEXT = "Buenos días, le llamo del servicio técnico para confirmar la visita de mañana por la mañana."


def reference(onnx_synthesizer, voice, speed: float) -> Reference:
    audio = onnx_synthesizer.synthesize(TEXT, voice, speed=speed)
    return Reference(audio, (Segment(TEXT, 0.0, len(audio) / 24_000),))


def test_a_slower_style_measures_slower_than_neutral(onnx_synthesizer, stock_voice: Callable) -> None:
    dora = stock_voice("ef_dora")
    rates = {
        style: speech_rate(reference(onnx_synthesizer, dora, speed))
        for style, speed in (("neutral", 1.0), ("empatico", 0.85), ("profesional", 1.2))
    }
    pace = relative_pace(rates)
    assert pace["neutral"] == 1.0
    # Syllables per second of speech: Kokoro's speed stretches the pauses too, so less than it says.
    assert 0.8 < pace["empatico"] < 0.93 and 1.04 < pace["profesional"] < 1.25


def test_the_rate_is_kept_beside_the_reference(onnx_synthesizer, stock_voice: Callable, tmp_path: Path) -> None:
    """Stage 1 measures it once, in the worker: the deploy only reads it."""
    neutral = reference(onnx_synthesizer, stock_voice("ef_dora"), 1.0)
    rate = speech_rate(neutral)
    write_reference(neutral, tmp_path / "measured.wav", speech_rate=rate)
    write_reference(neutral, tmp_path / "older.wav")  # a reference from before the rate was kept
    assert read_speech_rate(tmp_path / "measured.wav") == rate and 3 < rate < 9
    assert read_speech_rate(tmp_path / "older.wav") is None
    assert read_speech_rate(tmp_path / "missing.wav") is None


def test_without_a_neutral_rate_or_a_transcript_nothing_is_measured(onnx_synthesizer, stock_voice) -> None:
    amable = reference(onnx_synthesizer, stock_voice("ef_dora"), 1.0)
    assert speech_rate(Reference(amable.audio, ())) is None
    assert relative_pace({"amable": 5.0}) == {}
    assert relative_pace({"neutral": 5.0, "amable": 9.0}) == {"neutral": 1.0, "amable": 1.3}  # clamped
