"""Stage 3 on the real model: a voice passes against its own reference and fails against another's."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from voicelab.engine.config import STYLES, Thresholds
from voicelab.engine.pipeline import EVOLUTION_TEXTS
from voicelab.engine.scoring import Target
from voicelab.engine.validation import COMMON_PHRASES, ValidationReport, validate

REFERENCE = "Buenos días, gracias por llamar. Le atiende el servicio de atención al cliente, ¿en qué puedo ayudarle?"
PHRASES = ("Le confirmo su cita del martes.", "Siento mucho las molestias.")


@pytest.fixture(scope="module")
def targets(onnx_synthesizer, stock_voice: Callable) -> dict[str, Target]:
    def target(name: str) -> Target:
        return Target.from_audio(onnx_synthesizer.synthesize(REFERENCE, stock_voice(name)), 24_000)

    return {"neutral": target("em_alex"), "amable": target("ef_dora")}


def run(onnx_synthesizer, voices: dict, targets: dict, out_dir: Path) -> ValidationReport:
    return validate(
        voices=voices,
        targets=targets,
        speak=onnx_synthesizer.synthesize,
        out_dir=out_dir,
        phrases=dict.fromkeys(voices, PHRASES),
        common_phrases=PHRASES,
    )


def test_voices_matching_their_references_pass(onnx_synthesizer, stock_voice, targets, tmp_path: Path) -> None:
    report = run(
        onnx_synthesizer, {"neutral": stock_voice("em_alex"), "amable": stock_voice("ef_dora")}, targets, tmp_path
    )
    assert report.passed, json.dumps(report.as_dict(), indent=1)
    neutral = report.styles["neutral"]
    assert set(neutral.checks) == {"speaker_similarity", "self_similarity", "min_audio_seconds"}
    assert neutral.checks["speaker_similarity"].threshold == 0.70
    assert all(Path(f).is_file() for f in neutral.audio) and len(neutral.audio) == len(PHRASES)
    assert {"pitch_mean", "energy_std", "speech_rate"} <= set(neutral.prosody)
    # A male and a female voice differ in pitch by far more than 5 %.
    assert report.differentiation.coefficient_of_variation["pitch_mean"] > 0.05
    # The file (and the run's row) is the report as it is, and reads back as the same report.
    report.write(tmp_path / "validation_report.json")
    written = json.loads((tmp_path / "validation_report.json").read_text())
    assert written["passed"] is True and written["styles"]["neutral"]["checks"]["speaker_similarity"]["passed"]
    assert ValidationReport.read(tmp_path / "validation_report.json") == report


def test_a_voice_far_from_its_reference_fails(onnx_synthesizer, stock_voice, targets, tmp_path: Path) -> None:
    report = run(onnx_synthesizer, {"neutral": stock_voice("ef_dora")}, {"neutral": targets["neutral"]}, tmp_path)
    check = report.styles["neutral"].checks["speaker_similarity"]
    assert not check.passed and check.value < 0.70
    assert not report.passed and report.differentiation.passed  # one style: nothing to differ from
    assert not report.differentiation.applies
    assert ValidationReport.from_dict(report.as_dict()) == report


def test_styles_that_sound_alike_fail_differentiation(onnx_synthesizer, stock_voice, targets, tmp_path: Path) -> None:
    same = stock_voice("em_alex")
    report = validate(
        voices={"neutral": same, "amable": same},
        targets={"neutral": targets["neutral"], "amable": targets["neutral"]},
        speak=onnx_synthesizer.synthesize,
        out_dir=tmp_path,
        phrases=dict.fromkeys(("neutral", "amable"), PHRASES),
        common_phrases=PHRASES,
        thresholds=Thresholds(),
    )
    assert report.differentiation.value < 0.05 and not report.differentiation.passed and not report.passed


def test_each_style_is_judged_on_its_own_phrases_and_compared_on_common_ones(
    onnx_synthesizer, stock_voice, targets, tmp_path: Path
) -> None:
    common = ("Un momento, por favor.",)
    report = validate(
        voices={"neutral": stock_voice("em_alex"), "amable": stock_voice("ef_dora")},
        targets=targets,
        speak=onnx_synthesizer.synthesize,
        out_dir=tmp_path,
        common_phrases=common,
    )
    for style in ("neutral", "amable"):
        assert report.styles[style].phrases == list(STYLES[style].held_out)
        assert len(report.styles[style].audio) == 3
    across = report.differentiation
    assert across.phrases == list(common) and set(across.prosody) == {"neutral", "amable"}
    assert all(Path(f).is_file() for files in across.audio.values() for f in files)


def test_held_out_phrases_are_never_evolution_or_corpus_text() -> None:
    corpus = json.loads((Path(__file__).parents[2] / "labeling/corpus/builtin.json").read_text(encoding="utf-8"))
    corpus_texts = {entry["text"] for entry in corpus["sentences"]}
    held_out = [phrase for spec in STYLES.values() for phrase in spec.held_out]
    assert all(len(spec.held_out) >= 3 for spec in STYLES.values())
    assert len(set(held_out)) == len(held_out)
    assert not set(held_out) & (corpus_texts | set(EVOLUTION_TEXTS) | set(COMMON_PHRASES))
    assert not set(COMMON_PHRASES) & (corpus_texts | set(EVOLUTION_TEXTS))
