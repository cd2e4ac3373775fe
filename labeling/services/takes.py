"""Recording takes: accepting an upload, validating it, and promoting it when it passes."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, ngettext

from labeling.models import Recording, Sentence, take_upload_path
from voicelab.engine.audio import Audio, AudioError, accepted_extensions, read_audio, waveform_peaks, write_wav
from voicelab.engine.config import get_style
from voicelab.engine.errors import EngineError
from voicelab.engine.prosody import Prosody
from voicelab.engine.quality import assess_take, speaker_baseline

logger = logging.getLogger(__name__)

TAKES_GROUP = "labeling.takes"
# Median of the speaker's most recent neutral takes: enough to be stable, recent enough
# to follow a voice that changes over a long labeling campaign.
BASELINE_TAKES = 20
MAX_VALIDATION_ATTEMPTS = 3
MEGABYTE = 1_048_576  # as VOICELAB_MAX_UPLOAD_MB counts them
# Why a validation failed, stored in English with the take and shown translated (``translated``).
KILLED_THE_WORKER = gettext_noop(
    "Validating this take stopped the worker each time it was tried, so it is not tried again. "
    "The file is kept; record the sentence again."
)
UNREADABLE_STORED_AUDIO = gettext_noop("The stored audio of this take could not be read; record the sentence again.")


class TakeRejected(EngineError):
    """An upload that cannot become a take; the message is shown to the annotator."""


def check_audio_upload(upload: UploadedFile) -> None:
    """Size and extension of an uploaded audio file, before its content is read."""
    limit = settings.VOICELAB_MAX_UPLOAD_BYTES
    if upload.size is not None and upload.size > limit:
        raise TakeRejected(_over_limit(upload.size, limit))
    if upload.size == 0:
        raise TakeRejected(_("The file is empty."))
    extension = Path(upload.name or "").suffix.lower()
    if extension not in accepted_extensions():
        allowed = ", ".join(accepted_extensions())
        refused = _("“{extension}” files are not accepted: upload {allowed}.")
        raise TakeRejected(refused.format(extension=extension or _("no extension"), allowed=allowed))


def _over_limit(size: int, limit: int) -> str:
    """By how much a file is too large, in words that stay true one byte over the limit."""
    excess = size - limit
    if excess >= MEGABYTE:
        amount = f"{excess / MEGABYTE:.1f} MB"
    else:
        amount = ngettext("{count} byte", "{count} bytes", excess).format(count=f"{excess:,}")
    return _("The file is {amount} over the {limit:g} MB limit.").format(amount=amount, limit=limit / MEGABYTE)


def read_take_audio(upload: UploadedFile) -> Audio:
    """The audio of a file that ``add_take`` would accept, else ``TakeRejected``: for a caller
    that must know every file is usable before it adds any (an import, all or nothing)."""
    check_audio_upload(upload)
    return _decode_upload(upload)


def _decode_upload(upload: UploadedFile) -> Audio:
    try:
        return read_audio(upload, max_seconds=settings.VOICELAB_MAX_TAKE_SECONDS)
    except AudioError as exc:
        raise TakeRejected(*exc.args) from None  # its Message, shown in the reader's language


def _resolve_style(sentence: Sentence, style: str | None) -> str:
    style = style or sentence.style
    if not style:
        raise TakeRejected(_("Label the sentence with a style before recording it."))
    get_style(style)  # UnknownStyleError carries its own message
    return style


def add_take(
    *,
    sentence: Sentence,
    upload: UploadedFile,
    user: AbstractBaseUser | None,
    style: str | None = None,
    speaker: str | None = None,
    source: str = Recording.Source.UPLOAD,
) -> Recording:
    """Store a new take as 16-bit mono WAV, pending its validation (the caller queues it).

    Every new take comes through here (uploaded, recorded in the browser, or imported), so
    each is checked and validated alike. Nothing is written unless the file is readable audio
    within the limits; earlier takes and the sentence's active take are left as they are
    until this one validates.
    """
    check_audio_upload(upload)
    style = _resolve_style(sentence, style)
    audio = _decode_upload(upload)
    with transaction.atomic():
        last = sentence.takes.aggregate(last=Max("take_number"))["last"] or 0
        recording = Recording(
            sentence=sentence,
            style=style,
            take_number=last + 1,
            original_name=(upload.name or "")[:255],
            source=source,
            speaker=(speaker or getattr(user, "get_username", lambda: "")() or "unknown")[:150],
            uploaded_by=user,
            duration_seconds=audio.duration,
            sample_rate=audio.sample_rate,
            waveform=waveform_peaks(audio.samples),
        )
        recording.audio.name = take_upload_path(recording, "")
        target = Path(settings.MEDIA_ROOT) / recording.audio.name
        target.parent.mkdir(parents=True, exist_ok=True)
        write_wav(target, audio.samples, audio.sample_rate)
        recording.save()
    return recording


def mark_queued(*, recording_ids: list[int]) -> None:
    """Record that these takes' validations are on the queue now."""
    Recording.objects.filter(pk__in=recording_ids, status=Recording.Status.PENDING).update(queued_at=timezone.now())


def _speaker_baseline(recording: Recording) -> Prosody | None:
    rows = (
        Recording.objects.filter(speaker=recording.speaker, style="neutral", status=Recording.Status.VALID)
        .exclude(pk=recording.pk)
        .order_by("-validated_at")
        .values_list("prosody", flat=True)[:BASELINE_TAKES]
    )
    return speaker_baseline([Prosody(**row) for row in rows if row])


def validate_take(*, recording: Recording) -> Recording:
    """Assess a take against the signal checks and its style's profile; promote it if usable.

    A pending take's start is counted first, in its own transaction: one whose validation
    has killed the worker ``MAX_VALIDATION_ATTEMPTS`` times is failed instead of retried forever.
    """
    if recording.status == Recording.Status.PENDING:
        if _count_attempt(recording) > MAX_VALIDATION_ATTEMPTS:
            return _fail_validation(recording, KILLED_THE_WORKER)
        _notify(recording)  # from "queued" to "validating" on the annotator's page
    try:
        audio = read_audio(recording.audio.path)
    except (AudioError, OSError) as exc:
        logger.warning("The audio of take %s could not be read: %s", recording.pk, exc)
        return _fail_validation(recording, UNREADABLE_STORED_AUDIO)

    assessment = assess_take(
        audio, text=recording.sentence.text, style=recording.style, baseline=_speaker_baseline(recording)
    )
    report = assessment.as_dict()
    recording.quality_score = round(assessment.score, 3)
    recording.grade = assessment.grade
    recording.findings = report["findings"]
    recording.prosody = report["prosody"] or {}
    recording.signal = report["signal"]
    recording.pace = assessment.pace
    recording.duration_seconds = audio.duration
    recording.sample_rate = audio.sample_rate
    recording.status = Recording.Status.VALID if assessment.usable else Recording.Status.REJECTED
    recording.error = ""
    recording.validated_at = timezone.now()
    with transaction.atomic():
        recording.save()
        if assessment.usable and _is_newest_usable(recording):
            promote_take(recording=recording)
    _notify(recording)
    return recording


def _count_attempt(recording: Recording) -> int:
    Recording.objects.filter(pk=recording.pk).update(validation_attempts=F("validation_attempts") + 1)
    recording.refresh_from_db(fields=["validation_attempts"])
    return recording.validation_attempts


def _fail_validation(recording: Recording, message: str) -> Recording:
    recording.status, recording.error, recording.validated_at = Recording.Status.FAILED, message, timezone.now()
    recording.save(update_fields=["status", "error", "validated_at"])
    _notify(recording)
    return recording


def _is_newest_usable(recording: Recording) -> bool:
    """A take replaces the active one only if it is newer: a redelivered task for an
    old take, or workers finishing out of order, must not bring an old take back."""
    active = Sentence.objects.filter(pk=recording.sentence_id).values_list("active_take__take_number", flat=True)
    number = active.first()
    return number is None or number <= recording.take_number


def promote_take(*, recording: Recording) -> None:
    """Make the take the sentence's active one and publish it at the seed's export path.

    The export file is a hard link (a copy where links are unsupported) replaced
    atomically, so a reader never sees a half-written WAV and the take keeps its own file.
    """
    source = Path(recording.audio.path)
    target = Path(settings.MEDIA_ROOT) / recording.export_path
    temporary = target.with_name(f".{target.name}.{recording.pk}.tmp")
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary.unlink(missing_ok=True)
    try:
        os.link(source, temporary)
    except OSError:
        temporary.write_bytes(source.read_bytes())
    os.replace(temporary, target)
    Sentence.objects.filter(pk=recording.sentence_id).update(active_take=recording)


def _notify(recording: Recording) -> None:
    """Tell open workspaces that a take changed; a Redis hiccup must not fail validation."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(TAKES_GROUP, {"type": "take.changed", "recording_id": recording.pk})
    except Exception:
        logger.warning("Could not publish the update of take %s", recording.pk, exc_info=True)
