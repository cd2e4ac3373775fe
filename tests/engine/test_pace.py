"""A style's pace, measured on its reference against neutral's, with real Kokoro speech."""

from __future__ import annotations

from collections.abc import Callable

from voicelab.engine.pace import measured_pace
from voicelab.engine.reference import Reference, Segment

TEXT = "Buenos días, le llamo del servicio técnico para confirmar la visita de mañana por la mañana."


def reference(onnx_synthesizer, voice, speed: float) -> Reference:
    audio = onnx_synthesizer.synthesize(TEXT, voice, speed=speed)
    return Reference(audio, (Segment(TEXT, 0.0, len(audio) / 24_000),))


def test_a_slower_style_measures_slower_than_neutral(onnx_synthesizer, stock_voice: Callable) -> None:
    dora = stock_voice("ef_dora")
    references = {
        "neutral": reference(onnx_synthesizer, dora, 1.0),
        "empatico": reference(onnx_synthesizer, dora, 0.85),
        "profesional": reference(onnx_synthesizer, dora, 1.2),
    }
    pace = measured_pace(references)
    assert pace["neutral"] == 1.0
    # Syllables per second of speech: Kokoro's speed stretches the pauses too, so less than it says.
    assert 0.8 < pace["empatico"] < 0.93 and 1.04 < pace["profesional"] < 1.25


def test_without_a_neutral_reference_or_a_transcript_nothing_is_measured(onnx_synthesizer, stock_voice) -> None:
    amable = reference(onnx_synthesizer, stock_voice("ef_dora"), 1.0)
    assert measured_pace({"amable": amable}) == {}
    assert measured_pace({"neutral": Reference(amable.audio, ()), "amable": amable}) == {}
