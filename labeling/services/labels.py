"""Assigning style labels, one at a time or from the suggestions in bulk."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet

from labeling.models import Sentence, StyleLabel
from voicelab.engine.config import get_style


@transaction.atomic
def set_style_label(
    *,
    sentence: Sentence,
    style: str,
    user: AbstractBaseUser | None,
    method: str = StyleLabel.Method.DROPDOWN,
) -> StyleLabel:
    """Make ``style`` the sentence's label and keep the change in its history.

    Raises UnknownStyleError for a style outside the four. Choosing the current
    style again records nothing new.
    """
    get_style(style)
    sentence = Sentence.objects.select_for_update(of=("self",)).select_related("current_label").get(pk=sentence.pk)
    current = sentence.current_label
    if current is not None and current.style == style:
        return current
    label = StyleLabel.objects.create(
        sentence=sentence,
        style=style,
        previous_style=current.style if current else "",
        labeled_by=user,
        method=method,
    )
    sentence.current_label = label
    sentence.save(update_fields=["current_label"])
    return label


def apply_suggestions(*, sentences: QuerySet[Sentence], user: AbstractBaseUser | None, overwrite: bool = False) -> int:
    """Label each sentence of the selection with its suggested style; returns how many changed.

    Without ``overwrite`` only unlabeled sentences are touched, so an annotator's
    own decisions are never replaced by a bulk action by accident.
    """
    if not overwrite:
        sentences = sentences.filter(current_label__isnull=True)
    changed = 0
    for sentence in sentences.select_related("current_label"):
        if sentence.style != sentence.suggested_style:
            set_style_label(sentence=sentence, style=sentence.suggested_style, user=user, method=StyleLabel.Method.BULK)
            changed += 1
    return changed
