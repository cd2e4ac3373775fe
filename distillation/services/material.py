"""Distillation services: what the CLI and (later) the Celery tasks call."""

from __future__ import annotations

from distillation.engine.audio import AudioError, read_audio
from distillation.engine.reference import Clip
from labeling.models import Sentence


def labeled_clips(*, styles: tuple[str, ...]) -> dict[str, list[Clip]]:
    """Validated takes per style, recorded in the style their sentence is labeled with."""
    clips: dict[str, list[Clip]] = {style: [] for style in styles}
    sentences = Sentence.objects.filter(
        active_take__isnull=False, current_label__style__in=styles
    ).select_related("current_label", "active_take")
    for sentence in sentences:
        take = sentence.active_take
        if not sentence.has_take_in_style:
            continue
        try:
            audio = read_audio(take.audio.path)
        except (AudioError, OSError):
            continue  # a take whose file went missing is simply not material
        clips[take.style].append(Clip(audio.samples, audio.sample_rate, sentence.text, take.quality_score or 0.0))
    return clips


def style_sentences(*, styles: tuple[str, ...]) -> dict[str, list[str]]:
    """Per style, the corpus sentences labeled with it (else suggested for it), in corpus order:
    what a teacher speaks for that style's reference."""
    result: dict[str, list[str]] = {style: [] for style in styles}
    for sentence in Sentence.objects.select_related("current_label"):
        style = sentence.style or sentence.suggested_style
        if style in result:
            result[style].append(sentence.text)
    return result
