"""Progress figures and filters of the workspace, from real labels and validated takes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.test import Client

from distillation.services.material import material
from labeling.models import Recording, Sentence
from labeling.selectors import CategoryProgress, FilterError, category_progress, filter_sentences, style_progress
from voicelab.engine.reference import PAUSE_SECONDS

pytestmark = pytest.mark.django_db


@pytest.fixture
def progress_lab(
    corpus: None,
    label: Callable[[str, str], Sentence],
    add: Callable[..., Recording],
    validated: Callable[..., Recording],
    espeak_wav: Callable[..., Path],
    silence_wav: Callable[[float], Path],
) -> dict[str, Recording]:
    """shcc-01/02 amable, validated (02 twice); shcc-03 empatico, pending; shpg-01 neutral, rejected."""
    takes = {
        "shcc-01": validated(label("shcc-01", "amable"), espeak_wav()),
        "shcc-02": validated(label("shcc-02", "amable"), espeak_wav(pitch=70)),
    }
    takes["shcc-02"] = validated(Sentence.objects.get(sentence_id="shcc-02"), espeak_wav(pitch=60))
    add(label("shcc-03", "empatico"), espeak_wav())
    validated(label("shpg-01", "neutral"), silence_wav(2.0))
    return takes


def test_style_progress_counts_labels_validated_takes_and_seconds(progress_lab: dict[str, Recording]) -> None:
    rows = {row.style: row for row in style_progress()}

    assert list(rows) == ["neutral", "amable", "empatico", "profesional"]
    assert (rows["amable"].labeled, rows["amable"].validated) == (2, 2)  # shcc-02's first take is not counted
    speech = sum(take.prosody["speech_seconds"] for take in progress_lab.values())
    assert speech < sum(take.duration_seconds for take in progress_lab.values())  # edge silence is not counted
    assert rows["amable"].validated_seconds == pytest.approx(speech + PAUSE_SECONDS, abs=0.05)  # one pause between two
    # The launch page counts the same seconds.
    assert material(styles=("amable",))["amable"].seconds == pytest.approx(rows["amable"].validated_seconds, abs=0.05)
    assert (rows["empatico"].labeled, rows["empatico"].validated, rows["empatico"].validated_seconds) == (1, 0, 0.0)
    assert (rows["neutral"].labeled, rows["neutral"].validated) == (1, 0)
    assert (rows["profesional"].labeled, rows["profesional"].validated) == (0, 0)


def test_category_progress_counts(progress_lab: dict[str, Recording]) -> None:
    rows = {row.category.list_id: row for row in category_progress()}

    assert len(rows) == 7
    assert rows["lista_call_center"] == CategoryProgress(rows["lista_call_center"].category, 15, 3, 3, 2)
    assert rows["lista_pangramas"] == CategoryProgress(rows["lista_pangramas"].category, 7, 1, 1, 0)
    assert rows["lista_numeros"] == CategoryProgress(rows["lista_numeros"].category, 10, 0, 0, 0)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("recorded", ["shpg-01", "shcc-01", "shcc-02", "shcc-03"]),
        ("validated", ["shcc-01", "shcc-02"]),
    ],
)
def test_take_status_filters_in_the_workspace(
    progress_lab: dict[str, Recording], annotator_client: Client, status: str, expected: list[str]
) -> None:
    assert [s.sentence_id for s in filter_sentences(status=status)] == expected  # once each, in corpus order
    response = annotator_client.get("/labeling/", {"status": status})
    assert [s.sentence_id for s in response.context["sentences"]] == expected
    assert f"{len(expected)} sentences" in response.content.decode()


def test_unrecorded_filter_leaves_out_every_take(progress_lab: dict[str, Recording]) -> None:
    assert filter_sentences(status="unrecorded").count() == 73


def test_workspace_sidebar_shows_the_progress(progress_lab: dict[str, Recording], annotator_client: Client) -> None:
    html = annotator_client.get("/labeling/").content.decode()
    assert "3 / 3 / 2 of 15" in html and "1 / 1 / 0 of 7" in html


@pytest.mark.parametrize("filters", [{"style": "enfadado"}, {"status": "done"}])
def test_unknown_filter_raises_a_filter_error(db: None, filters: dict[str, str]) -> None:
    with pytest.raises(FilterError, match="choose one of"):
        filter_sentences(**filters)
