"""Runs stored by earlier versions still read as what they were: walks judged by today's marks."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from voicelab.engine.config import PipelineConfig

BEFORE = ("distillation", "0004_run_config")
AFTER = ("distillation", "0005_walk_phase_and_clip_source")
# A run's record as the version before the optimizer setting wrote it.
EARLIER_RECORD = {
    "styles": ["neutral"],
    "scoring": {"target": 0.48, "self_similarity": 0.5, "features": 0.02},
    "thresholds": {
        "speaker_similarity": 0.7,
        "self_similarity": 0.85,
        "style_differentiation_cov": 0.05,
        "min_audio_seconds": 1.0,
    },
    "evolution": {
        "steps": 500,
        "diversity": [0.01, 0.15],
        "early_termination_ratio": 0.98,
        "base_voices": ["ef_dora", "em_alex", "em_santa"],
        "interpolation_alphas": [0.0],
        "checkpoint_every": 100,
        "seed": 3,
        "batch": 1,
    },
}


@pytest.mark.django_db(transaction=True)
def test_runs_frozen_before_the_optimizer_setting_resume_as_walks() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    old = executor.loader.project_state([BEFORE]).apps
    user = old.get_model("auth", "User").objects.create(username="earlier")
    run = old.get_model("distillation", "DistillationRun").objects.create(
        launched_by_id=user.pk, styles=["neutral"], steps=500, seed=3, config=EARLIER_RECORD
    )
    executor = MigrationExecutor(connection)
    executor.migrate([AFTER])
    new = executor.loader.project_state([AFTER]).apps
    record = new.get_model("distillation", "DistillationRun").objects.get(pk=run.pk).config
    config = PipelineConfig.from_record(record, root=Path("."))
    assert (config.evolution.optimizer, config.evolution.steps) == ("walk", 500)
    assert config.evolution.base_voices == ("ef_dora", "em_alex", "em_santa")
    assert (config.thresholds.speaker_similarity, config.thresholds.naturalness) == (0.75, 3.5)  # CAM++'s marks
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
