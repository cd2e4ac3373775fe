"""The F5-TTS teacher this lab is configured with, for runs launched with an uploaded voice."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from voicelab.engine.teacher import F5Teacher, HttpTeacher, Teacher, TeacherError

NOT_CONFIGURED = (
    "No F5-TTS teacher is configured on this lab: set VOICELAB_TEACHER_URL to a teacher server, "
    "or VOICELAB_F5_CHECKPOINT and VOICELAB_F5_VOCODER to local files for f5-tts in a GPU worker."
)


def teacher_problem() -> str:
    """Why a run cannot use the F5 teacher here; empty when it can."""
    if settings.VOICELAB_TEACHER_URL or (settings.VOICELAB_F5_CHECKPOINT and settings.VOICELAB_F5_VOCODER):
        return ""
    return NOT_CONFIGURED


def configured_teacher(*, reference_audio: str | Path, reference_text: str) -> Teacher:
    """The server when one is set (it is sent the voice to clone), else f5-tts in process."""
    if settings.VOICELAB_TEACHER_URL:
        return HttpTeacher(
            settings.VOICELAB_TEACHER_URL, reference_audio=Path(reference_audio), reference_text=reference_text
        )
    if settings.VOICELAB_F5_CHECKPOINT and settings.VOICELAB_F5_VOCODER:
        return F5Teacher(
            checkpoint=Path(settings.VOICELAB_F5_CHECKPOINT),
            vocoder=Path(settings.VOICELAB_F5_VOCODER),
            reference_audio=Path(reference_audio),
            reference_text=reference_text,
        )
    raise TeacherError(NOT_CONFIGURED)
