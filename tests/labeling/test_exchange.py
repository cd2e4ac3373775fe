"""Export (seed JSON, LJSpeech zip) and import back: exact format, round trip, refusals."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import zipfile
from collections.abc import Callable
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client

from labeling.models import Recording, Sentence, StyleLabel
from labeling.services.exchange import ImportResult, export_records, import_export, write_export_zip
from labeling.services.takes import validate_take

pytestmark = pytest.mark.django_db

RECORD_KEYS = {"sentence_id", "text", "list", "style_label", "recording"}
RECORDING_KEYS = {"path", "duration_seconds", "quality_score", "prosody"}
PROSODY_KEYS = {"pitch_mean", "energy_std", "speech_rate"}
WAVS = {"shcc-01": "shcc-01_amable.wav", "shpg-01": "shpg-01_neutral.wav"}


@pytest.fixture
def lab(
    corpus: None,
    label: Callable[[str, str], Sentence],
    validated: Callable[..., Recording],
    espeak_wav: Callable[..., Path],
    silence_wav: Callable[[float], Path],
) -> None:
    """Two sentences with validated takes, one labeled only, one whose only take was rejected."""
    validated(label("shcc-01", "amable"), espeak_wav())
    validated(label("shpg-01", "neutral"), espeak_wav("Un pangrama de prueba, dicho despacio.", pitch=30))
    label("shcc-03", "empatico")
    assert validated(label("shcc-04", "profesional"), silence_wav(2.0)).status == "rejected"


def export_zip() -> bytes:
    buffer = io.BytesIO()
    write_export_zip(buffer)
    return buffer.getvalue()


def wipe(media_root: Path) -> None:
    """Forget every label and take, and the audio: the corpus alone is left."""
    Recording.objects.all().delete()
    StyleLabel.objects.all().delete()
    shutil.rmtree(media_root)
    media_root.mkdir()


def lab_state() -> tuple[int, int, list[dict]]:
    return StyleLabel.objects.count(), Recording.objects.count(), export_records()


def scoreless(records: list[dict]) -> list[dict]:
    """An export without its quality scores: each lab validates the takes it holds itself, and an
    imported amable take is judged against the imported neutral one (the original had none)."""
    return [
        {**r, "recording": r["recording"] and {k: v for k, v in r["recording"].items() if k != "quality_score"}}
        for r in records
    ]


def judged_by_style(sentence_id: str) -> bool:
    """Whether the sentence's take was compared with its speaker's neutral takes."""
    findings = Recording.objects.get(sentence__sentence_id=sentence_id).findings
    return "no_baseline" not in {finding["code"] for finding in findings}


def validate_all_pending() -> list[Recording]:
    """What the worker does with the queued takes: validate each, oldest first."""
    pending = Recording.objects.select_related("sentence").filter(status="pending").order_by("pk")
    return [validate_take(recording=take) for take in pending]


def import_and_validate(archive: bytes, user: User | None) -> ImportResult:
    result = import_export(data=archive, user=user)
    assert sorted(take.pk for take in validate_all_pending()) == sorted(result.take_ids)
    return result


def test_export_json_has_exactly_the_seed_format(lab: None, annotator_client: Client) -> None:
    response = annotator_client.get("/labeling/export.json")
    records = json.loads(response.content)

    assert records == export_records()
    assert [r["sentence_id"] for r in records] == ["shpg-01", "shcc-01", "shcc-03", "shcc-04"]  # corpus order
    assert all(set(r) == RECORD_KEYS for r in records)
    by_id = {r["sentence_id"]: r for r in records}
    assert by_id["shcc-01"]["text"] == Sentence.objects.get(sentence_id="shcc-01").text
    assert (by_id["shcc-01"]["list"], by_id["shcc-01"]["style_label"]) == ("lista_call_center", "amable")
    recording = by_id["shcc-01"]["recording"]
    assert set(recording) == RECORDING_KEYS and set(recording["prosody"]) == PROSODY_KEYS
    assert recording["path"] == "recordings/shcc-01_amable.wav"
    assert recording["duration_seconds"] > 1 and 0 <= recording["quality_score"] <= 1
    assert by_id["shpg-01"]["recording"]["path"] == "recordings/shpg-01_neutral.wav"
    assert by_id["shcc-03"]["recording"] is None and by_id["shcc-04"]["recording"] is None


def test_export_zip_holds_json_metadata_and_wavs(lab: None, annotator_client: Client, media_root: Path) -> None:
    response = annotator_client.get("/labeling/export.zip")
    assert response["Content-Type"] == "application/zip"

    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        wavs = {f"wavs/{name}" for name in WAVS.values()}
        assert set(archive.namelist()) == {"voicelab_export.json", "metadata.csv"} | wavs
        assert json.loads(archive.read("voicelab_export.json")) == export_records()
        metadata = archive.read("metadata.csv").decode().splitlines()
        for name in WAVS.values():
            assert archive.read(f"wavs/{name}") == (media_root / "recordings" / name).read_bytes()
    texts = {sid: Sentence.objects.get(sentence_id=sid).text for sid in WAVS}
    assert sorted(metadata) == sorted(f"{Path(WAVS[sid]).stem}|{text}|{text}" for sid, text in texts.items())


def test_round_trip_through_the_zip_gives_the_same_export(lab: None, media_root: Path, operator: User) -> None:
    first, archive = export_records(), export_zip()
    wipe(media_root)
    assert export_records() == []

    result = import_export(data=archive, user=operator)

    assert (result.labels_changed, result.takes_added, result.warnings) == (4, 2, [])
    # The takes arrive as uploads do: pending, not exported, until the worker validates them.
    assert set(Recording.objects.values_list("source", "status")) == {("import", "pending")}
    assert all(r["recording"] is None for r in export_records())
    validate_all_pending()

    assert scoreless(export_records()) == scoreless(first)
    assert judged_by_style("shcc-01") and not judged_by_style("shpg-01")
    for name in WAVS.values():
        assert (media_root / "recordings" / name).is_file()
    assert set(Recording.objects.values_list("source", "status")) == {("import", "valid")}


@pytest.mark.parametrize("validated_between", [False, True], ids=["still-pending", "validated"])
def test_importing_twice_changes_nothing(lab: None, media_root: Path, operator: User, validated_between: bool) -> None:
    archive = export_zip()
    wipe(media_root)
    import_export(data=archive, user=operator)
    if validated_between:
        validate_all_pending()
    before = lab_state()

    result = import_export(data=archive, user=operator)

    assert (result.labels_changed, result.takes_added) == (0, 0)
    assert lab_state() == before


def test_importing_into_the_lab_it_came_from_changes_nothing(lab: None, operator: User) -> None:
    before = lab_state()
    result = import_export(data=export_zip(), user=operator)
    assert (result.labels_changed, result.takes_added) == (0, 0)
    assert lab_state() == before


def test_a_json_import_sets_labels_only(corpus: None, operator: User) -> None:
    record = {"sentence_id": "shnu-02", "style_label": "profesional", "recording": None}
    result = import_export(data=json.dumps([record]).encode(), user=operator)
    label = Sentence.objects.get(sentence_id="shnu-02").current_label
    assert result.labels_changed == 1 and (label.style, label.method, label.labeled_by) == (
        "profesional",
        "import",
        operator,
    )


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


GOOD = {"sentence_id": "shcc-03", "style_label": "neutral", "recording": None}
BAD_IMPORTS: dict[str, tuple[bytes, str]] = {
    "unknown_sentence": (json.dumps([GOOD, {**GOOD, "sentence_id": "zz-99"}]).encode(), "unknown sentence “zz-99”"),
    "unknown_style": (json.dumps([GOOD, {**GOOD, "style_label": "enfadado"}]).encode(), "unknown style “enfadado”"),
    "not_json": (b"sentence_id,style\nshcc-03,neutral\n", "not valid JSON"),
    "not_a_list": (json.dumps(GOOD).encode(), "must be a list"),
    "zip_without_json": (zip_of({"metadata.csv": b"a|b|c\n"}), "has no voicelab_export.json"),
    "missing_keys": (json.dumps([{"sentence_id": "shcc-03"}]).encode(), "lacks “style_label”"),
}


@pytest.mark.parametrize("case", BAD_IMPORTS)
def test_a_bad_import_changes_nothing_and_says_why(lab: None, annotator_client: Client, case: str) -> None:
    data, reason = BAD_IMPORTS[case]
    before = lab_state()

    response = annotator_client.post("/labeling/import/", {"file": SimpleUploadedFile("export.zip", data)})

    assert response.status_code == 400
    assert "Nothing was imported" in response.content.decode() and reason in response.content.decode()
    assert lab_state() == before


def test_a_record_with_a_list_for_an_id_is_refused_with_a_reason(lab: None, annotator_client: Client) -> None:
    data = json.dumps([{"sentence_id": ["shcc-03"], "style_label": "neutral"}]).encode()
    response = annotator_client.post("/labeling/import/", {"file": SimpleUploadedFile("export.json", data)})
    assert response.status_code == 400


def test_a_zip_whose_wav_is_not_audio_is_refused(lab: None, media_root: Path, operator: User) -> None:
    with zipfile.ZipFile(io.BytesIO(export_zip())) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    files["wavs/shcc-01_amable.wav"] = b"this is not a wav file" * 100
    wipe(media_root)
    with contextlib.suppress(ValueError):  # refused whole, or the bad take alone
        import_export(data=zip_of(files), user=operator)
    assert not Recording.objects.filter(sentence__sentence_id="shcc-01").exists()


def test_an_imported_take_is_validated_and_a_bad_one_rejected(lab: None, media_root: Path, operator: User) -> None:
    """A take is judged by this lab's checks, not by the quality the export claims for it."""
    with zipfile.ZipFile(io.BytesIO(export_zip())) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    silent = Recording.objects.get(sentence__sentence_id="shcc-04")  # the lab's rejected take
    files["wavs/shcc-01_amable.wav"] = Path(silent.audio.path).read_bytes()
    wipe(media_root)

    result = import_and_validate(zip_of(files), operator)

    assert result.takes_added == 2
    takes = {take.sentence.sentence_id: take for take in Recording.objects.select_related("sentence")}
    assert (takes["shcc-01"].status, takes["shcc-01"].grade) == ("rejected", "red")
    assert "silent" in {finding["code"] for finding in takes["shcc-01"].findings}
    assert takes["shpg-01"].status == "valid"
    assert Sentence.objects.get(sentence_id="shcc-01").active_take is None
    assert next(r for r in export_records() if r["sentence_id"] == "shcc-01")["recording"] is None


def test_a_good_import_through_the_view_redirects_with_a_summary(
    lab: None, annotator_client: Client, media_root: Path
) -> None:
    archive = export_zip()
    wipe(media_root)
    response = annotator_client.post(
        "/labeling/import/", {"file": SimpleUploadedFile("export.zip", archive)}, follow=True
    )
    assert response.redirect_chain == [("/labeling/", 302)]
    assert "Imported: 4 labels changed, 2 takes added." in response.content.decode()
    # Queued for validation, as an upload is.
    takes = Recording.objects.all()
    assert len(takes) == 2 and all(take.status == "pending" and take.queued_at for take in takes)


def test_export_and_import_commands(lab: None, media_root: Path, tmp_path: Path) -> None:
    first, target = export_records(), tmp_path / "lab.zip"
    out = StringIO()
    call_command("export_labels", str(target), stdout=out)
    assert "with 2 recordings" in out.getvalue() and zipfile.is_zipfile(target)
    wipe(media_root)

    out = StringIO()
    call_command("import_labels", str(target), stdout=out, stderr=StringIO())

    assert "4 labels changed, 2 takes added.\n2 of them queued for validation." in out.getvalue()
    assert all(take.queued_at for take in Recording.objects.all())
    validate_all_pending()
    assert scoreless(export_records()) == scoreless(first)


@pytest.mark.parametrize(("content", "message"), [(None, "Cannot read"), (b"[1]", "record 1 is not an object")])
def test_import_command_refuses_bad_files(corpus: None, tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "export.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CommandError, match=message):
        call_command("import_labels", str(path), stdout=StringIO())
    assert not StyleLabel.objects.exists()


def test_round_trip_after_relabeling_a_recorded_sentence(
    lab: None, label: Callable[[str, str], Sentence], media_root: Path, operator: User
) -> None:
    label("shcc-01", "empatico")  # its validated take was recorded as amable
    first, archive = export_records(), export_zip()
    wipe(media_root)

    # Audio of another style is not handed out as this label's recording.
    assert next(r for r in first if r["sentence_id"] == "shcc-01")["recording"] is None

    import_and_validate(archive, operator)

    assert export_records() == first
