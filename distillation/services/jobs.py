"""What the services leave for a worker to do next.

Services know nothing of Celery: one that makes work for a worker returns it as jobs, and
``distillation.tasks.schedule`` queues them once the transaction commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    PREPARE = "prepare"  # a run's Stage 1 (its pk is the run's)
    WALK = "walk"  # one style's Stage 2 (the walk's pk)
    VALIDATE = "validate"  # a run's Stage 3 (the run's pk)


@dataclass(frozen=True)
class Job:
    kind: Kind
    pk: int

    @classmethod
    def prepare(cls, run_id: int) -> Job:
        return cls(Kind.PREPARE, run_id)

    @classmethod
    def walk(cls, style_run_id: int) -> Job:
        return cls(Kind.WALK, style_run_id)

    @classmethod
    def validate(cls, run_id: int) -> Job:
        return cls(Kind.VALIDATE, run_id)
