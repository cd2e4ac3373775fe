"""Runs as the launch service stores them, without its material checks or its queueing."""

from __future__ import annotations

from pathlib import Path

from distillation.models import DistillationRun, StyleRun
from voicelab.engine.config import PipelineConfig


def make_run(
    user: object, styles: tuple[str, ...] = ("neutral",), steps: int = 10, optimizer: str = "gradient"
) -> DistillationRun:
    config = PipelineConfig.from_env(
        root=Path("."), environ={}, styles=styles, steps=steps, seed=1, optimizer=optimizer
    )
    run = DistillationRun.objects.create(
        launched_by=user, styles=list(styles), steps=steps, seed=1, config=config.record()
    )
    for position, style in enumerate(styles):
        StyleRun.objects.create(run=run, style=style, position=position)
    return run
