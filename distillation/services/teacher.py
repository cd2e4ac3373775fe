"""The F5-TTS teacher this lab is configured with, for runs launched with an uploaded voice."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from voicelab.engine.teacher import Teacher, TeacherSource
from voicelab.i18n import translated


def lab_teacher_source() -> TeacherSource:
    """The server when ``VOICELAB_TEACHER_URL`` is set, else f5-tts from the configured files."""
    return TeacherSource(
        url=settings.VOICELAB_TEACHER_URL,
        checkpoint=Path(settings.VOICELAB_F5_CHECKPOINT) if settings.VOICELAB_F5_CHECKPOINT else None,
        vocoder=Path(settings.VOICELAB_F5_VOCODER) if settings.VOICELAB_F5_VOCODER else None,
    )


def teacher_problem() -> str:
    """Why a run cannot use the F5 teacher here, in the reader's language; empty when it can."""
    return translated(lab_teacher_source().problem())


def configured_teacher(
    *,
    reference_audio: str | Path | None,
    reference_text: str,
    url: str | None = None,
    checkpoint: Path | None = None,
    vocoder: Path | None = None,
) -> Teacher:
    """The lab's teacher, cloning ``reference_audio`` (sent along to a teacher server); the
    CLI's flags (``url``, ``checkpoint``, ``vocoder``) take the place of the lab's settings."""
    lab = lab_teacher_source()
    source = TeacherSource(url=url or lab.url, checkpoint=checkpoint or lab.checkpoint, vocoder=vocoder or lab.vocoder)
    return source.teacher(
        reference_audio=Path(reference_audio) if reference_audio else None, reference_text=reference_text
    )
