"""The corpus: the built-in sentences and the user's copy of the Sharvard lists."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils.html import escape

from labeling.models import Category, Recording, Sentence, StyleLabel
from labeling.services.corpus import BUILTIN_CORPUS, SHARVARD_ATTRIBUTION, load_builtin_corpus

pytestmark = pytest.mark.django_db


def import_sharvard(path: Path, lists: str = "1-5") -> str:
    out = StringIO()
    call_command("import_sharvard", str(path), lists=lists, stdout=out, stderr=StringIO())
    return out.getvalue()


def sharvard_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# --- built-in corpus -------------------------------------------------------------------------


def test_builtin_corpus_has_77_sentences_in_7_categories(corpus: None) -> None:
    assert Sentence.objects.count() == 77
    assert Category.objects.filter(source=Category.Source.BUILTIN).count() == 7
    counts = Counter(Sentence.objects.values_list("category__list_id", flat=True))
    assert counts["lista_call_center"] == 15 and counts["lista_pangramas"] == 7
    assert Sentence.objects.get(sentence_id="shcc-01").suggested_style == "amable"


def test_builtin_corpus_load_is_idempotent_and_keeps_labels_and_takes(
    labeled_greeting: Sentence, add: Callable[..., Recording], espeak_wav: Callable[..., Path]
) -> None:
    take = add(labeled_greeting, espeak_wav())
    result = load_builtin_corpus()
    assert (result.created, result.updated, result.unchanged) == (0, 0, 77)
    assert result.warnings == []
    sentence = Sentence.objects.get(pk=labeled_greeting.pk)
    assert sentence.style == "amable"
    assert StyleLabel.objects.count() == 1
    assert list(Recording.objects.values_list("pk", flat=True)) == [take.pk]


def test_changed_text_of_a_recorded_sentence_gives_a_warning(
    labeled_greeting: Sentence, add: Callable[..., Recording], espeak_wav: Callable[..., Path], tmp_path: Path
) -> None:
    add(labeled_greeting, espeak_wav())
    data = json.loads(BUILTIN_CORPUS.read_text(encoding="utf-8"))
    for spec in data["sentences"]:
        if spec["id"] in {"shcc-01", "shcc-02"}:  # shcc-02 has no take: no warning for it
            spec["text"] += " Hasta luego."
    changed = tmp_path / "builtin.json"
    changed.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")

    result = load_builtin_corpus(path=changed)

    assert result.updated == 2
    assert len(result.warnings) == 1 and result.warnings[0].startswith("shcc-01:")
    assert Sentence.objects.get(sentence_id="shcc-01").text.endswith("Hasta luego.")
    assert Sentence.objects.get(sentence_id="shcc-01").style == "amable"


# --- Sharvard import -----------------------------------------------------------------------


def test_import_sharvard_lists_1_to_5(sharvard_file: Path) -> None:
    output = import_sharvard(sharvard_file, "1-5")
    sentences = Sentence.objects.filter(category__source=Category.Source.SHARVARD).order_by("sentence_id")
    ids = [f"sh{n:02d}-{m:02d}" for n in range(1, 6) for m in range(1, 11)]
    assert list(sentences.values_list("sentence_id", flat=True)) == ids
    assert list(sentences.values_list("text", flat=True)) == sharvard_lines(sharvard_file)[:50]
    assert set(sentences.values_list("category__list_id", flat=True)) == {f"lista_{n:02d}" for n in range(1, 6)}
    assert Sentence.objects.get(sentence_id="sh03-04").category.list_id == "lista_03"
    assert "50 created" in output and SHARVARD_ATTRIBUTION in output


def test_reimporting_sharvard_creates_nothing_and_keeps_labels_and_takes(
    sharvard_file: Path,
    label: Callable[[str, str], Sentence],
    add: Callable[..., Recording],
    espeak_wav: Callable[..., Path],
) -> None:
    import_sharvard(sharvard_file, "1-5")
    add(label("sh01-01", "neutral"), espeak_wav("Hay una prueba."))
    label("sh02-03", "profesional")

    output = import_sharvard(sharvard_file, "1-5")

    assert "0 created, 0 updated, 50 unchanged" in output
    assert Sentence.objects.count() == 50
    assert Sentence.objects.get(sentence_id="sh01-01").style == "neutral"
    assert Sentence.objects.get(sentence_id="sh02-03").style == "profesional"
    assert Recording.objects.filter(sentence__sentence_id="sh01-01").count() == 1


def test_import_sharvard_reads_id_tab_text_lines(tmp_path: Path) -> None:
    # Our own sentences, in the id<TAB>text layout, shuffled: ids place them, not the line order.
    lines = [f"{list_no:02d}-{n:02d}\tFrase de prueba {list_no} {n}." for list_no in (2, 1) for n in range(10, 0, -1)]
    path = tmp_path / "sharvard_ids.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    import_sharvard(path, "1,2")

    assert Sentence.objects.get(sentence_id="sh01-03").text == "Frase de prueba 1 3."
    assert Sentence.objects.get(sentence_id="sh02-10").text == "Frase de prueba 2 10."
    assert Sentence.objects.get(sentence_id="sh02-10").position == 10
    assert Sentence.objects.count() == 20


@pytest.fixture
def bad_files(tmp_path: Path) -> Path:
    """A folder with ``short.txt`` (list 01 complete, 4 sentences of list 02) and an empty ``empty.txt``."""
    (tmp_path / "short.txt").write_text("".join(f"Frase número {n}.\n" for n in range(1, 15)), encoding="utf-8")
    (tmp_path / "empty.txt").write_bytes(b"")
    return tmp_path


@pytest.mark.parametrize(
    ("name", "lists", "message"),
    [
        ("missing.txt", "1", "Cannot read"),
        ("short.txt", "71", "outside 1-70"),
        ("short.txt", "1-2", "List 02 has 4 of 10 sentences"),
        ("empty.txt", "1", "holds no sentences"),
        ("short.txt", "a-b", "Cannot read list selection 'a-b'"),
    ],
)
def test_bad_sharvard_input_is_a_command_error(bad_files: Path, name: str, lists: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        import_sharvard(bad_files / name, lists)
    assert not Sentence.objects.exists() and not Category.objects.exists()


def test_attribution_is_shown_only_when_sharvard_lists_exist(
    corpus: None, annotator_client: Client, sharvard_file: Path
) -> None:
    def shown(url: str) -> bool:
        return escape(SHARVARD_ATTRIBUTION) in annotator_client.get(url).content.decode()

    assert not shown("/labeling/")
    import_sharvard(sharvard_file, "1")
    assert shown("/labeling/")
    assert shown("/labeling/sentences/sh01-01/")
    assert not shown("/labeling/sentences/shcc-01/")
