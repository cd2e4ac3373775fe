"""Style labels: one at a time with history, and the suggestions in bulk."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from labeling.models import Sentence, StyleLabel
from labeling.selectors import filter_sentences
from labeling.services.labels import apply_suggestions, set_style_label
from voicelab.engine.config import UnknownStyleError

pytestmark = pytest.mark.django_db


def test_set_style_label_records_who_when_how_and_what_before(greeting_sentence: Sentence, annotator: User) -> None:
    before = timezone.now()
    first = set_style_label(sentence=greeting_sentence, style="neutral", user=annotator)
    second = set_style_label(sentence=greeting_sentence, style="amable", user=annotator, method="keyboard")

    assert (first.previous_style, second.previous_style) == ("", "neutral")
    assert second.labeled_by == annotator and second.method == "keyboard" and first.method == "dropdown"
    assert second.labeled_at >= before
    assert Sentence.objects.get(pk=greeting_sentence.pk).current_label == second


def test_each_change_is_kept_in_the_history(greeting_sentence: Sentence, annotator: User) -> None:
    for style in ("neutral", "amable", "empatico"):
        set_style_label(sentence=greeting_sentence, style=style, user=annotator)
    history = greeting_sentence.labels.all()
    assert [(label.style, label.previous_style) for label in history] == [
        ("empatico", "amable"),
        ("amable", "neutral"),
        ("neutral", ""),
    ]
    assert Sentence.objects.get(pk=greeting_sentence.pk).style == "empatico"


def test_choosing_the_same_style_again_records_nothing(labeled_greeting: Sentence, annotator: User) -> None:
    label = set_style_label(sentence=labeled_greeting, style="amable", user=annotator, method="keyboard")
    assert label == labeled_greeting.current_label
    assert StyleLabel.objects.count() == 1


def test_unknown_style_raises_and_changes_nothing(labeled_greeting: Sentence, annotator: User) -> None:
    with pytest.raises(UnknownStyleError, match="enfadado"):
        set_style_label(sentence=labeled_greeting, style="enfadado", user=annotator)
    assert StyleLabel.objects.count() == 1
    assert Sentence.objects.get(pk=labeled_greeting.pk).style == "amable"


def test_apply_suggestions_labels_only_the_unlabeled(
    corpus: None, label: Callable[[str, str], Sentence], operator: User
) -> None:
    label("shcc-01", "profesional")  # suggested: amable
    changed = apply_suggestions(sentences=filter_sentences(category="lista_call_center"), user=operator)

    assert changed == 14
    assert Sentence.objects.get(sentence_id="shcc-01").style == "profesional"
    bulk = StyleLabel.objects.filter(method=StyleLabel.Method.BULK)
    assert bulk.count() == 14 and set(bulk.values_list("labeled_by", flat=True)) == {operator.pk}
    call_center = Sentence.objects.filter(category__list_id="lista_call_center").exclude(sentence_id="shcc-01")
    assert all(s.style == s.suggested_style for s in call_center)
    assert not Sentence.objects.exclude(category__list_id="lista_call_center").filter(current_label__isnull=False)


def test_apply_suggestions_with_overwrite_replaces_labels(
    corpus: None, label: Callable[[str, str], Sentence], operator: User
) -> None:
    label("shcc-01", "profesional")
    label("shcc-02", Sentence.objects.get(sentence_id="shcc-02").suggested_style)
    changed = apply_suggestions(sentences=filter_sentences(status="labeled"), user=operator, overwrite=True)

    assert changed == 1  # shcc-02 already had its suggestion
    relabeled = Sentence.objects.get(sentence_id="shcc-01").current_label
    assert (relabeled.style, relabeled.previous_style, relabeled.method) == ("amable", "profesional", "bulk")
    assert Sentence.objects.filter(current_label__isnull=False).count() == 2
