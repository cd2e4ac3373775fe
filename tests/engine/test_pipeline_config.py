"""The pipeline's one source of truth: seed defaults, environment and explicit overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voicelab.engine.config import STYLES, ConfigError, PipelineConfig, UnknownStyleError


def test_seed_defaults(tmp_path: Path) -> None:
    config = PipelineConfig.from_env(root=tmp_path, environ={})
    assert config.styles == ("neutral", "amable", "empatico", "profesional")
    assert {name: spec.f5_speed for name, spec in STYLES.items()} == {
        "neutral": 1.0,
        "amable": 0.95,
        "empatico": 0.90,
        "profesional": 1.05,
    }
    thresholds = config.thresholds
    # CAM++ gates, calibrated on the stock voices; the seed's resemblyzer 0.70 is reported beside them.
    assert (thresholds.speaker_similarity, thresholds.self_similarity, thresholds.seed_speaker_similarity) == (
        0.75,
        0.70,
        0.70,
    )
    assert (thresholds.naturalness, thresholds.naturalness_drop) == (3.5, 0.3)
    assert (thresholds.style_differentiation_cov, thresholds.min_audio_seconds) == (0.05, 1.0)
    evolution = config.evolution
    assert (evolution.optimizer, evolution.steps) == ("gradient", 30)
    assert (evolution.diversity, evolution.early_termination_ratio) == ((0.01, 0.15), 0.98)
    assert evolution.base_voices == ()  # every stock voice is a candidate start
    assert (evolution.start_candidates, evolution.interpolation_alphas) == (3, (-0.5, 0.0, 0.5))


def test_each_optimizer_has_its_own_default_steps(tmp_path: Path) -> None:
    steps = {
        name: PipelineConfig.from_env(root=tmp_path, environ={}, optimizer=name).evolution.steps
        for name in ("gradient", "walk", "hybrid")
    }
    assert steps == {"gradient": 30, "walk": 10_000, "hybrid": 230}
    walk = PipelineConfig.from_env(root=tmp_path, environ={"VOICELAB_DISTILLATION_OPTIMIZER": "walk"}, steps=5)
    assert (walk.evolution.optimizer, walk.evolution.steps) == ("walk", 5)
    with pytest.raises(ConfigError, match="Unknown optimizer 'annealing'"):
        PipelineConfig.from_env(root=tmp_path, environ={}, optimizer="annealing")


def test_parallel_starts_follow_the_device_unless_set(tmp_path: Path) -> None:
    assert PipelineConfig.from_env(root=tmp_path, environ={}).evolution.parallel_starts is None
    environ = {"VOICELAB_DISTILLATION_PARALLEL_STARTS": "8"}
    assert PipelineConfig.from_env(root=tmp_path, environ=environ).evolution.parallel_starts == 8
    with pytest.raises(ConfigError, match="At least one start"):
        PipelineConfig.from_env(root=tmp_path, environ={}, parallel_starts=0)


def test_seed_paths(tmp_path: Path) -> None:
    paths = PipelineConfig.from_env(root=tmp_path, environ={}).paths
    assert paths.reference_audio("amable") == tmp_path / "reference_audio/amable/target.wav"
    assert paths.evolved_voice("amable") == tmp_path / "evolved_voices/amable.pt"
    assert paths.start_voice("amable") == tmp_path / "start_voices/amable.pt"
    assert paths.validation_report() == tmp_path / "validation/validation_report.json"


def test_environment_then_overrides(tmp_path: Path) -> None:
    environ = {
        "VOICELAB_DISTILLATION_STEPS": "500",
        "VOICELAB_DISTILLATION_SEED": "7",
        "VOICELAB_DISTILLATION_STYLES": "neutral,amable",
    }
    from_env = PipelineConfig.from_env(root=tmp_path, environ=environ)
    assert (from_env.evolution.steps, from_env.evolution.seed, from_env.styles) == (500, 7, ("neutral", "amable"))
    cli = PipelineConfig.from_env(root=tmp_path, environ=environ, steps=100, styles=("empatico",))
    assert (cli.evolution.steps, cli.evolution.seed, cli.styles) == (100, 7, ("empatico",))


def test_unknown_style_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnknownStyleError, match="Unknown style 'robotico'"):
        PipelineConfig.from_env(root=tmp_path, environ={}, styles=("robotico",))


def test_a_record_brings_back_the_same_config_through_json(tmp_path: Path) -> None:
    environ = {"VOICELAB_DISTILLATION_ALPHAS": "0,0.5"}
    config = PipelineConfig.from_env(root=tmp_path, environ=environ, styles=("amable",), steps=30, seed=4)
    stored = json.loads(json.dumps(config.record()))
    assert PipelineConfig.from_record(stored, root=tmp_path) == config
    assert PipelineConfig.from_record(stored, root=tmp_path / "other").paths.root == tmp_path / "other"


def test_a_record_this_version_cannot_read_is_a_clear_error(tmp_path: Path) -> None:
    stored = PipelineConfig.from_env(root=tmp_path, environ={}).record()
    stored["evolution"]["temperature"] = 3
    with pytest.raises(ConfigError, match="cannot be read by this version"):
        PipelineConfig.from_record(stored, root=tmp_path)
