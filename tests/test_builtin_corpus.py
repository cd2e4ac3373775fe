"""Checks for the built-in Spanish sentence corpus (labeling/corpus/builtin.json).

Plain json + stdlib; no Django needed:
    python -m pytest tests/test_builtin_corpus.py -q -p no:django
"""

import json
import re
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
BUILTIN = REPO_ROOT / "labeling" / "corpus" / "builtin.json"
# Real-world input file, outside the repo (a user's checkout has no ../shared).
SHARVARD_FILE = REPO_ROOT.parent / "shared" / "corpus" / "sharvard_sentences.txt"

STYLES = {"neutral", "amable", "empatico", "profesional"}

EXPECTED = [  # (list, prefix, count), in file order
    ("lista_pangramas", "shpg", 7),
    ("lista_call_center", "shcc", 15),
    ("lista_diptongos", "shdp", 10),
    ("lista_numeros", "shnu", 10),
    ("lista_pares_minimos", "shmp", 14),
    ("lista_secuencias_dificiles", "shds", 9),
    ("lista_variaciones_emocionales", "shev", 12),
]

CONTRAST_UNITS = {"r/rr": ("r", "rr"), "b/v": ("b", "v"), "s/z": ("s", "z"), "n/ñ": ("n", "ñ")}
CONTRAST_COUNTS = {"r/rr": 4, "b/v": 3, "s/z": 3, "n/ñ": 4}
VARIANT_STYLES = {
    "neutral": "neutral",
    "pregunta": "profesional",
    "enfasis": "profesional",
    "disculpa": "empatico",
}


@pytest.fixture(scope="module")
def corpus():
    with BUILTIN.open(encoding="utf-8") as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def sentences(corpus):
    return corpus["sentences"]


def by_list(sentences, name):
    return [s for s in sentences if s["list"] == name]


def normalize(text):
    """Lower-case, NFC, punctuation dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFC", text).lower()
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


def words(text):
    return re.findall(r"\w+", text)


def test_categories_in_order_with_prefixes(corpus):
    cats = corpus["categories"]
    assert [(c["list"], c["prefix"]) for c in cats] == [(name, p) for name, p, _ in EXPECTED]
    for c in cats:
        assert c["name"].strip() and c["purpose"].strip()
        assert c["default_style"] in STYLES


def test_total_and_per_category_counts(sentences):
    assert len(sentences) == 77
    counts = Counter(s["list"] for s in sentences)
    assert counts == {name: n for name, _, n in EXPECTED}


def test_every_list_referenced_exists(corpus):
    known = {c["list"] for c in corpus["categories"]}
    for s in corpus["sentences"]:
        assert s["list"] in known, s["id"]


def test_no_sharvard_lists_or_ids_in_file(sentences):
    for s in sentences:
        assert not re.match(r"^lista_\d\d$", s["list"]), s["id"]
        assert not re.match(r"^sh\d\d-\d\d$", s["id"]), s["id"]


def test_ids_unique_well_formed_and_consecutive(corpus):
    sents = corpus["sentences"]
    ids = [s["id"] for s in sents]
    assert len(ids) == len(set(ids))
    for lst, prefix, count in EXPECTED:
        got = [s["id"] for s in by_list(sents, lst)]
        for sid in got:
            assert re.fullmatch(rf"{prefix}-\d\d", sid), sid
        assert got == [f"{prefix}-{i:02d}" for i in range(1, count + 1)]


def test_required_fields_and_styles(sentences):
    for s in sentences:
        for key in ("id", "list", "text", "suggested_style", "kind"):
            assert isinstance(s.get(key), str) and s[key].strip(), (s.get("id"), key)
        assert s["suggested_style"] in STYLES, s["id"]
        assert re.fullmatch(r"[a-z_]+", s["kind"]), s["id"]


def test_neutral_baseline_lists(sentences):
    for lst in (
        "lista_pangramas",
        "lista_diptongos",
        "lista_numeros",
        "lista_pares_minimos",
        "lista_secuencias_dificiles",
    ):
        for s in by_list(sentences, lst):
            assert s["suggested_style"] == "neutral", s["id"]


def test_call_center_first_sentence_exact(sentences):
    first = next(s for s in sentences if s["id"] == "shcc-01")
    assert first["text"] == "Buenos días, gracias por llamar a nuestro servicio."
    assert first["suggested_style"] == "amable"


def test_call_center_style_mix_follows_guide(sentences):
    guide = {
        "greeting": "amable",
        "welcome": "amable",
        "farewell": "amable",
        "apology": "empatico",
        "problem": "empatico",
        "data": "neutral",
        "process": "profesional",
        "policy": "profesional",
        "confirmation": "profesional",
    }
    cc = by_list(sentences, "lista_call_center")
    for s in cc:
        assert s["kind"] in guide, s["id"]
        assert s["suggested_style"] == guide[s["kind"]], s["id"]
    assert Counter(s["suggested_style"] for s in cc) == {"amable": 4, "empatico": 4, "neutral": 3, "profesional": 4}


def test_texts_unique(sentences):
    normed = [normalize(s["text"]) for s in sentences]
    dupes = [t for t, n in Counter(normed).items() if n > 1]
    assert not dupes


def test_text_shape_and_spanish_punctuation(sentences):
    for s in sentences:
        text = s["text"]
        assert text == text.strip() and "  " not in text, s["id"]
        assert text[-1] in ".?!", s["id"]
        n = len(words(text))
        low = 3 if s["kind"] == "tongue_twister" else 4
        assert low <= n <= 20, (s["id"], n)
        # Spanish opening marks: every ? / ! closes a ¿ / ¡ opened before it.
        for opener, closer in (("¿", "?"), ("¡", "!")):
            assert text.count(opener) == text.count(closer), s["id"]
            depth = 0
            for ch in text:
                depth += ch == opener
                depth -= ch == closer
                assert depth >= 0, s["id"]
        assert unicodedata.normalize("NFC", text) == text, s["id"]


def test_pangrams_cover_many_letters(sentences):
    pangrams = by_list(sentences, "lista_pangramas")
    combined = " ".join(s["text"].lower() for s in pangrams)
    for s in pangrams:
        letters = {c for c in s["text"].lower() if c.isalpha()}
        assert len(letters) >= 17, (s["id"], len(letters))
    for unit in ("ñ", "rr", "ll", "j", "g", "z", "ch", "x", "q", "y", "k", "ü"):
        assert unit in combined, unit


def test_diphthong_sentences_have_vowel_sequences(sentences):
    for s in by_list(sentences, "lista_diptongos"):
        seqs = re.findall(r"[aeiouáéíóúü]{2,}", s["text"].lower())
        assert len(seqs) >= 3, s["id"]


def test_number_sentences_written_in_words(sentences):
    number_words = re.compile(
        r"\b(uno|una|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|once|doce|trece|"
        r"catorce|quince|veint\w*|treinta|cuarenta|cincuenta|sesenta|setenta|ochenta|"
        r"noventa|cien|ciento|\w*cientos|mil|primer\w*|segund\w*|tercer\w*|cuart\w*)\b"
    )
    for s in by_list(sentences, "lista_numeros"):
        assert not re.search(r"\d", s["text"]), s["id"]
        assert number_words.search(s["text"].lower()), s["id"]


def _differ_only_in(a, b, contrast):
    x, y = CONTRAST_UNITS[contrast]
    for src, dst, frm, to in ((a, b, x, y), (b, a, x, y)):
        for m in re.finditer(re.escape(frm), src):
            if src[: m.start()] + to + src[m.end() :] == dst:
                return True
    return False


def test_minimal_pairs(sentences):
    mp = by_list(sentences, "lista_pares_minimos")
    assert Counter(s["contrast"] for s in mp) == CONTRAST_COUNTS
    seen = set()
    for s in mp:
        pair = s["pair"]
        assert isinstance(pair, list) and len(pair) == 2 and pair[0] != pair[1], s["id"]
        a, b = (w.lower() for w in pair)
        assert _differ_only_in(a, b, s["contrast"]), s["id"]
        tokens = {w.lower() for w in words(s["text"])}
        assert a in tokens and b in tokens, (s["id"], pair)
        key = frozenset((a, b))
        assert key not in seen, s["id"]
        seen.add(key)
        assert s["kind"] == "minimal_pair"


def test_difficult_sequences(sentences):
    ds = by_list(sentences, "lista_secuencias_dificiles")
    kinds = Counter(s["kind"] for s in ds)
    assert set(kinds) == {"cluster", "tongue_twister"}
    for s in ds:
        if s["kind"] == "cluster":
            assert re.search(r"(str|nstr|bst|nsp|nsm|[pbfc][lr]|tr|x)", s["text"].lower()), s["id"]


def test_emotional_variations(sentences):
    ev = by_list(sentences, "lista_variaciones_emocionales")
    groups = defaultdict(list)
    for s in ev:
        assert s["variant"] in VARIANT_STYLES, s["id"]
        assert s["suggested_style"] == VARIANT_STYLES[s["variant"]], s["id"]
        groups[s["group"]].append(s)
    assert len(groups) == 3
    for g, members in groups.items():
        assert sorted(m["variant"] for m in members) == sorted(VARIANT_STYLES), g
        # Groups are consecutive blocks of four in file order.
        nums = sorted(int(m["id"].split("-")[1]) for m in members)
        assert nums == list(range(nums[0], nums[0] + 4)), g
        question = next(m for m in members if m["variant"] == "pregunta")
        assert question["text"].startswith("¿") and question["text"].endswith("?"), g


def test_no_sharvard_sentence_included(sentences):
    if not SHARVARD_FILE.is_file():
        pytest.skip(
            f"Sharvard reference file not present at {SHARVARD_FILE} "
            "(only available in the shared workspace, not in a user checkout)"
        )
    sharvard = {normalize(line) for line in SHARVARD_FILE.read_text(encoding="utf-8").splitlines() if line.strip()}
    assert len(sharvard) > 0
    for s in sentences:
        t = normalize(s["text"])
        assert t not in sharvard, s["id"]
        assert not any(sh in t for sh in sharvard), s["id"]
