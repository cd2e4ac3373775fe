"""Export and import of labels and validated recordings.

The JSON is exactly the seed's data format (one object per labeled sentence); the zip
adds an LJSpeech-style ``metadata.csv`` and the WAVs under ``wavs/``, and imports back.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils.translation import gettext as _

from labeling.models import Recording, Sentence, StyleLabel
from labeling.services.labels import set_style_label
from labeling.services.takes import TakeRejected, add_take, read_take_audio
from voicelab.engine.config import STYLES
from voicelab.i18n import translated

EXPORT_JSON = "voicelab_export.json"
METADATA_CSV = "metadata.csv"
WAVS_DIR = "wavs"
# Who an imported take was recorded by is not in the export.
IMPORTED_SPEAKER = "imported"


class ExchangeError(ValueError):
    """An import that was refused as a whole; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def _recording_record(take: Recording) -> dict:
    prosody = take.prosody or {}

    def rounded(key: str, digits: int) -> float | None:
        value = prosody.get(key)
        return None if value is None else round(value, digits)

    return {
        "path": take.export_path,
        "duration_seconds": round(take.duration_seconds or 0.0, 2),
        "quality_score": round(take.quality_score or 0.0, 2),
        "prosody": {
            "pitch_mean": rounded("pitch_mean", 1),
            "energy_std": rounded("energy_std", 3),
            "speech_rate": rounded("speech_rate", 2),
        },
    }


def export_records() -> list[dict]:
    """Every labeled sentence in corpus order, with its validated take in the labeled style.

    A take recorded before the sentence was relabeled is left out: it would hand
    Stage 1 audio of the wrong style.
    """
    sentences = Sentence.objects.filter(current_label__isnull=False).select_related(
        "category", "current_label", "active_take__sentence"
    )
    return [
        {
            "sentence_id": s.sentence_id,
            "text": s.text,
            "list": s.category.list_id,
            "style_label": s.current_label.style,
            "recording": _recording_record(s.active_take) if s.has_take_in_style else None,
        }
        for s in sentences
    ]


def write_export_zip(target: BinaryIO) -> int:
    """Write the JSON, ``metadata.csv`` (``id|text|text``) and WAVs; returns the WAV count."""
    records = export_records()
    metadata = io.StringIO()
    writer = csv.writer(metadata, delimiter="|", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    count = 0
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(EXPORT_JSON, json.dumps(records, ensure_ascii=False, indent=2))
        for record in records:
            if not record["recording"]:
                continue
            path = Path(record["recording"]["path"])
            archive.write(Path(settings.MEDIA_ROOT) / path, f"{WAVS_DIR}/{path.name}")
            writer.writerow([path.stem, record["text"], record["text"]])
            count += 1
        archive.writestr(METADATA_CSV, metadata.getvalue())
    return count


@dataclass
class ImportResult:
    labels_changed: int = 0
    # The takes added, pending their validation: the caller queues them, as it does an upload.
    take_ids: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def takes_added(self) -> int:
        return len(self.take_ids)


def _check_record(index: int, record: object, sentences: dict[str, Sentence]) -> list[str]:
    where = _("record {number}").format(number=index + 1)
    if not isinstance(record, dict):
        return [_("{where} is not an object").format(where=where)]
    problems = [
        (_("{where} lacks “{key}”") if key not in record else _("{where}: “{key}” must be text")).format(
            where=where, key=key
        )
        for key in ("sentence_id", "style_label")
        if not isinstance(record.get(key), str)
    ]
    if problems:
        return problems
    if record["sentence_id"] not in sentences:
        problems.append(
            _("{where}: unknown sentence “{sentence}” (import the corpus first)").format(
                where=where, sentence=record["sentence_id"]
            )
        )
    if record["style_label"] not in STYLES:
        problems.append(_("{where}: unknown style “{style}”").format(where=where, style=record["style_label"]))
    recording = record.get("recording")
    if recording is not None and not (isinstance(recording, dict) and isinstance(recording.get("path"), str)):
        problems.append(_("{where}: “recording” must be null or an object with a path").format(where=where))
    return problems


def _parse_records(raw: bytes) -> list[dict]:
    try:
        records = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExchangeError([_("The file is not valid JSON: {reason}").format(reason=exc)]) from None
    if not isinstance(records, list):
        raise ExchangeError([_("The JSON must be a list of sentence records, as the export writes it.")])
    return records


def _read_archive(data: bytes) -> tuple[list[dict], dict[str, bytes]]:
    """Records and ``{export path: wav bytes}`` from an export zip or a bare JSON file."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return _parse_records(data), {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = set(archive.namelist())
        if EXPORT_JSON not in names:
            raise ExchangeError([_("The zip has no {name}: is it a Voice Lab export?").format(name=EXPORT_JSON)])
        records = _parse_records(archive.read(EXPORT_JSON))
        wavs = {
            f"recordings/{Path(name).name}": archive.read(name)
            for name in names
            if name.startswith(f"{WAVS_DIR}/") and name.endswith(".wav")
        }
    return records, wavs


def _upload(path: str, data: bytes) -> SimpleUploadedFile:
    """A WAV of the archive as ``add_take`` receives a file."""
    return SimpleUploadedFile(Path(path).name, data)


def _check_wavs(wavs: dict[str, bytes], records: list[dict]) -> list[str]:
    """Every WAV the records refer to that an upload of it would refuse, and why."""
    problems: list[str] = []
    for path in {(record.get("recording") or {}).get("path") for record in records} & set(wavs):
        try:
            read_take_audio(_upload(path, wavs[path]))
        except TakeRejected as exc:
            problems.append(f"{path}: {translated(exc)}")
    return sorted(problems)


def _recorded_style(record: dict) -> str:
    """The style a take was recorded in, from its ``<id>_<style>.wav`` path (else the label)."""
    stem = Path(record["recording"]["path"]).stem
    style = stem.removeprefix(f"{record['sentence_id']}_")
    return style if style in STYLES else record["style_label"]


def _has_audio(sentence: Sentence, data: bytes) -> bool:
    """Whether the sentence's active take, or a take still pending its validation, is this audio:
    an export imported again (validated or not yet) adds nothing."""
    takes = [sentence.active_take, *sentence.takes.filter(status=Recording.Status.PENDING)]
    return hashlib.sha256(data).digest() in {_digest(take) for take in takes if take is not None}


def _digest(take: Recording) -> bytes | None:
    try:
        return hashlib.sha256(Path(take.audio.path).read_bytes()).digest()
    except OSError:  # its file is gone: nothing to compare with
        return None


def _import_take(sentence: Sentence, record: dict, data: bytes, user: AbstractBaseUser | None) -> int | None:
    """Add the record's take as an upload would be, pending its validation; its id (None when
    the sentence has it already)."""
    if _has_audio(sentence, data):
        return None
    path = record["recording"]["path"]
    take = add_take(
        sentence=sentence,
        upload=_upload(path, data),
        user=user,
        style=_recorded_style(record),
        speaker=IMPORTED_SPEAKER,
        source=Recording.Source.IMPORT,
    )
    return take.pk


def import_export(*, data: bytes, user: AbstractBaseUser | None) -> ImportResult:
    """Apply an export (zip or JSON) to this lab: labels, and takes whose audio it carries.

    Every record and every WAV is checked first; on any problem nothing at all is changed.
    The takes are added as uploads are, pending their validation: the caller queues
    ``ImportResult.take_ids``, and each becomes the sentence's take once it validates.
    """
    records, wavs = _read_archive(data)
    ids = [r.get("sentence_id") for r in records if isinstance(r, dict) and isinstance(r.get("sentence_id"), str)]
    sentences = Sentence.objects.select_related("current_label", "active_take").in_bulk(ids, field_name="sentence_id")
    problems = [p for i, r in enumerate(records) for p in _check_record(i, r, sentences)]
    if problems:
        raise ExchangeError(problems)
    problems = _check_wavs(wavs, records)
    if problems:
        raise ExchangeError(problems)

    result = ImportResult()
    with transaction.atomic():
        for record in records:
            sentence = sentences[record["sentence_id"]]
            if "text" in record and record["text"] != sentence.text:
                result.warnings.append(
                    _("{sentence}: the text differs from this lab's corpus.").format(sentence=sentence.sentence_id)
                )
            if sentence.style != record["style_label"]:
                set_style_label(
                    sentence=sentence, style=record["style_label"], user=user, method=StyleLabel.Method.IMPORT
                )
                result.labels_changed += 1
            recording = record.get("recording")
            if recording and recording["path"] in wavs:
                sentence.refresh_from_db()
                take_id = _import_take(sentence, record, wavs[recording["path"]], user)
                if take_id is not None:
                    result.take_ids.append(take_id)
    return result
