"""Runs as the launch service stores them, without its material checks or its queueing."""

from __future__ import annotations

from distillation.models import DistillationRun, StyleRun


def make_run(user: object, styles: tuple[str, ...] = ("neutral",), steps: int = 10) -> DistillationRun:
    run = DistillationRun.objects.create(launched_by=user, styles=list(styles), steps=steps, seed=1)
    for position, style in enumerate(styles):
        StyleRun.objects.create(run=run, style=style, position=position)
    return run
