"""Shared facts of the end-to-end suite: the annotator's password, and reading takes the worker handled."""

from __future__ import annotations

from labeling.models import Recording, Sentence

from .processes import wait_until

ANNOTATOR_PASSWORD = "e2e-annotator-password-1"
OPERATOR_PASSWORD = "e2e-operator-password-1"
VALIDATION_TIMEOUT = 120.0  # generous: the first validation loads models, and CI may be busy


def wait_for_validation(recording_pk: int, *, timeout: float = VALIDATION_TIMEOUT) -> Recording:
    """The take once the worker has finished with it (its status left "pending")."""

    def finished() -> Recording | None:
        take = Recording.objects.get(pk=recording_pk)
        return take if take.status != Recording.Status.PENDING else None

    return wait_until(finished, timeout=timeout, what=f"the worker to validate take {recording_pk}", interval=0.2)


def latest_take(sentence_id: str) -> Recording:
    take = Recording.objects.filter(sentence__sentence_id=sentence_id).order_by("-take_number").first()
    assert take is not None, f"{sentence_id} has no take"
    return take


def sentence(sentence_id: str) -> Sentence:
    return Sentence.objects.select_related("current_label", "active_take").get(sentence_id=sentence_id)
