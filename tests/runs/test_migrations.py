"""Runs stored by earlier versions still read as what they were: walks judged by today's marks."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from voicelab.engine.config import PipelineConfig
from voicelab.engine.messages import Message

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


@pytest.mark.django_db(transaction=True)
def test_errors_stored_as_text_read_the_same_as_messages_and_back() -> None:
    """0007: a run's and a walk's English error become Messages that read exactly as they did
    (braces included); migrating back gives the text again."""
    before, after = ("distillation", "0006_style_labels"), ("distillation", "0007_errors_as_messages")
    text = "Stage 3: walk {neutral} failed; the worker's log has the details."
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    old = executor.loader.project_state([before]).apps
    user = old.get_model("auth", "User").objects.create(username="earlier")
    run = old.get_model("distillation", "DistillationRun").objects.create(
        launched_by_id=user.pk, styles=["neutral"], steps=5, seed=3, config=EARLIER_RECORD, error=text
    )
    walk = old.get_model("distillation", "StyleRun").objects.create(run_id=run.pk, style="neutral", error=text)
    clean = old.get_model("distillation", "StyleRun").objects.create(run_id=run.pk, style="amable")

    executor = MigrationExecutor(connection)
    executor.migrate([after])
    new = executor.loader.project_state([after]).apps
    errors = [
        new.get_model("distillation", "DistillationRun").objects.get(pk=run.pk).error,
        *(new.get_model("distillation", "StyleRun").objects.get(pk=pk).error for pk in (walk.pk, clean.pk)),
    ]
    assert [str(Message.from_dict(e)) for e in errors[:2]] == [text, text] and errors[2] is None

    executor = MigrationExecutor(connection)
    executor.migrate([before])
    old = executor.loader.project_state([before]).apps
    assert old.get_model("distillation", "StyleRun").objects.get(pk=walk.pk).error == text
    assert old.get_model("distillation", "StyleRun").objects.get(pk=clean.pk).error == ""
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
