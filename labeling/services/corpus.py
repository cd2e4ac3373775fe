"""Loading the corpus: the built-in sentences and the user's copy of the Sharvard lists."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from labeling.models import Category, Sentence

BUILTIN_CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "builtin.json"

SHARVARD_LISTS = 70
SHARVARD_LIST_SIZE = 10
SHARVARD_ATTRIBUTION = (
    "Sharvard Corpus © Aubanel, García Lecumberri & Cooke (2014), "
    "“The Sharvard Corpus: A phonemically-balanced Spanish sentence resource for audiology”, "
    "International Journal of Audiology 53(9). Edinburgh DataShare, hdl:10283/574, CC BY 3.0."
)
# Built-in categories sort around the Sharvard lists: pangrams first, then lists 01-70, then the rest.
SHARVARD_POSITION_BASE = 20
BUILTIN_FIRST_POSITION = 10
BUILTIN_REST_POSITION = 100


class CorpusError(ValueError):
    """A corpus file that cannot be imported; the message says why and where."""


@dataclass
class CorpusLoadResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    warnings: list[str] = field(default_factory=list)

    def count(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)


def _upsert_sentence(*, sentence_id: str, defaults: dict, result: CorpusLoadResult) -> None:
    """Create or update one sentence by its stable id; labels and takes are never touched."""
    sentence = Sentence.objects.filter(sentence_id=sentence_id).first()
    if sentence is None:
        Sentence.objects.create(sentence_id=sentence_id, **defaults)
        result.count("created")
        return
    changed = {name: value for name, value in defaults.items() if getattr(sentence, name) != value}
    if not changed:
        result.count("unchanged")
        return
    if "text" in changed and sentence.takes.exists():
        result.warnings.append(f"{sentence_id}: text changed; its recorded takes read the old text.")
    for name, value in changed.items():
        setattr(sentence, name, value)
    sentence.save(update_fields=list(changed))
    result.count("updated")


@transaction.atomic
def load_builtin_corpus(*, path: Path = BUILTIN_CORPUS) -> CorpusLoadResult:
    """Load (or refresh) the sentences that ship with Voice Lab. Safe to run on every start."""
    data = json.loads(path.read_text(encoding="utf-8"))
    result = CorpusLoadResult()
    categories: dict[str, Category] = {}
    for index, spec in enumerate(data["categories"]):
        position = BUILTIN_FIRST_POSITION if index == 0 else BUILTIN_REST_POSITION + 10 * index
        categories[spec["list"]], _ = Category.objects.update_or_create(
            list_id=spec["list"],
            defaults={
                "prefix": spec["prefix"],
                "name": spec["name"],
                "purpose": spec.get("purpose", ""),
                "default_style": spec["default_style"],
                "position": position,
                "source": Category.Source.BUILTIN,
            },
        )
    positions: dict[str, int] = {}
    for spec in data["sentences"]:
        positions[spec["list"]] = positions.get(spec["list"], 0) + 1
        details = {k: v for k, v in spec.items() if k not in {"id", "list", "text", "suggested_style", "kind"}}
        _upsert_sentence(
            sentence_id=spec["id"],
            defaults={
                "text": spec["text"],
                "category": categories[spec["list"]],
                "position": positions[spec["list"]],
                "suggested_style": spec["suggested_style"],
                "kind": spec.get("kind", ""),
                "details": details,
            },
            result=result,
        )
    return result


def parse_list_selection(value: str) -> list[int]:
    """``"1-5"`` or ``"1,3,7-9"`` → sorted list numbers, each within 1..70."""
    numbers: set[int] = set()
    for part in filter(None, (p.strip() for p in value.split(","))):
        match = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
        if not match:
            raise CorpusError(f"Cannot read list selection {part!r}: use numbers like 1-5 or 1,3,7.")
        first, last = int(match[1]), int(match[2] or match[1])
        if not 1 <= first <= last <= SHARVARD_LISTS:
            raise CorpusError(f"List selection {part!r} is outside 1-{SHARVARD_LISTS}.")
        numbers.update(range(first, last + 1))
    if not numbers:
        raise CorpusError("No lists selected.")
    return sorted(numbers)


def _locate(line_id: str, line_no: int) -> tuple[int, int]:
    """Map an ``id<TAB>text`` id to (list, sentence): ``"01-03"``, ``"L01S03"`` or a running number."""
    numbers = [int(n) for n in re.findall(r"\d+", line_id)]
    if len(numbers) >= 2:
        return numbers[-2], numbers[-1]
    if len(numbers) == 1 and numbers[0] >= 1:
        return divmod(numbers[0] - 1, SHARVARD_LIST_SIZE)[0] + 1, (numbers[0] - 1) % SHARVARD_LIST_SIZE + 1
    raise CorpusError(f"Line {line_no}: cannot read a sentence number from the id {line_id!r}.")


def parse_sharvard(text: str) -> dict[tuple[int, int], str]:
    """Read the Sharvard file: one sentence per line in corpus order, or ``id<TAB>text`` lines.

    Returns ``{(list, sentence): text}``. Raises CorpusError naming the offending line.
    """
    sentences: dict[tuple[int, int], str] = {}
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    for index, (line_no, line) in enumerate(lines):
        if "\t" in line:
            line_id, sentence = (part.strip() for part in line.split("\t", 1))
            key = _locate(line_id, line_no)
        else:
            sentence = line
            key = (index // SHARVARD_LIST_SIZE + 1, index % SHARVARD_LIST_SIZE + 1)
        if not 1 <= key[0] <= SHARVARD_LISTS or not 1 <= key[1] <= SHARVARD_LIST_SIZE:
            raise CorpusError(f"Line {line_no}: sentence {key[1]} of list {key[0]} is outside the corpus.")
        if not sentence:
            raise CorpusError(f"Line {line_no}: the sentence text is empty.")
        if key in sentences:
            raise CorpusError(f"Line {line_no}: list {key[0]} sentence {key[1]} appears twice.")
        sentences[key] = sentence
    if not sentences:
        raise CorpusError("The file holds no sentences.")
    return sentences


def read_corpus_file(path: Path) -> str:
    """Read a user's text file with messages a person understands."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Older downloads of the corpus are Latin-1; accept them rather than refuse.
        return raw.decode("latin-1")


@transaction.atomic
def import_sharvard(*, text: str, lists: list[int]) -> CorpusLoadResult:
    """Import the chosen Sharvard lists as ``lista_NN`` with ids ``shNN-MM``.

    Idempotent: re-importing updates texts in place by id and never touches labels or takes.
    """
    sentences = parse_sharvard(text)
    result = CorpusLoadResult()
    for list_no in lists:
        found = {k: v for k, v in sentences.items() if k[0] == list_no}
        if len(found) != SHARVARD_LIST_SIZE:
            raise CorpusError(
                f"List {list_no:02d} has {len(found)} of {SHARVARD_LIST_SIZE} sentences in the file: "
                "is this the complete 700-sentence Sharvard file?"
            )
        category, _ = Category.objects.update_or_create(
            list_id=f"lista_{list_no:02d}",
            defaults={
                "prefix": f"sh{list_no:02d}",
                "name": f"Sharvard lista {list_no:02d}",
                "purpose": "Oraciones generales fonéticamente balanceadas (Sharvard Corpus).",
                "default_style": "neutral",
                "position": SHARVARD_POSITION_BASE + list_no,
                "source": Category.Source.SHARVARD,
            },
        )
        for (_, number), sentence in sorted(found.items()):
            _upsert_sentence(
                sentence_id=f"sh{list_no:02d}-{number:02d}",
                defaults={
                    "text": sentence,
                    "category": category,
                    "position": number,
                    "suggested_style": "neutral",
                    "kind": "sharvard",
                    "details": {},
                },
                result=result,
            )
    return result
