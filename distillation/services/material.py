"""What Stage 1 can be built from: the annotators' validated takes, and the corpus sentences."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.db.models import F, QuerySet
from django.utils.formats import number_format
from django.utils.translation import ngettext

from labeling.models import Sentence
from voicelab.engine.audio import AudioError, read_audio
from voicelab.engine.config import get_style
from voicelab.engine.pipeline import Pipeline
from voicelab.engine.reference import MIN_SECONDS, PAUSE_SECONDS, Clip
from voicelab.engine.teacher import Teacher


def _in_style_takes(styles: tuple[str, ...]) -> QuerySet[Sentence]:
    """Sentences whose validated take was recorded in the style they are labeled with."""
    return Sentence.objects.filter(
        active_take__isnull=False, current_label__style__in=styles, active_take__style=F("current_label__style")
    ).select_related("current_label", "active_take")


def labeled_clips(*, styles: tuple[str, ...]) -> dict[str, list[Clip]]:
    """Validated takes per style, recorded in the style their sentence is labeled with."""
    clips: dict[str, list[Clip]] = {style: [] for style in styles}
    for sentence in _in_style_takes(styles):
        take = sentence.active_take
        try:
            audio = read_audio(take.audio.path)
        except (AudioError, OSError):
            continue  # a take whose file went missing is simply not material
        clips[take.style].append(Clip(audio.samples, audio.sample_rate, sentence.text, take.quality_score or 0.0))
    return clips


def build_references(
    pipeline: Pipeline, *, teacher: Teacher | None = None, clip: Path | None = None
) -> dict[str, Path]:
    """Stage 1 for the pipeline's styles: from a user's clip of the speaker, else from the
    teacher when there is one, else from the labeled takes. The one place the CLI and the
    workers both take Stage 1's input from."""
    styles = pipeline.config.styles
    if clip is not None:
        return pipeline.from_clip(clip)
    if teacher is not None:
        return pipeline.teach(teacher, style_sentences(styles=styles))
    return pipeline.reference(labeled_clips(styles=styles))


@dataclass(frozen=True)
class Material:
    """One style's validated speech, against what Stage 1 needs."""

    style: str
    takes: int
    seconds: float
    needed: float = MIN_SECONDS

    @property
    def enough(self) -> bool:
        return self.seconds >= self.needed

    @property
    def missing(self) -> float:
        return max(0.0, self.needed - self.seconds)

    def problem(self) -> str:
        """Why this style cannot run, in words; empty when it can."""
        if self.enough:
            return ""
        problem = ngettext(
            "{style}: {seconds} s of validated speech in {takes} take; Stage 1 needs {needed:.0f} s, so {missing} s more.",
            "{style}: {seconds} s of validated speech in {takes} takes; Stage 1 needs {needed:.0f} s, so {missing} s more.",
            self.takes,
        )
        return problem.format(
            style=get_style(self.style).label,
            seconds=number_format(self.seconds, 1),
            takes=self.takes,
            needed=self.needed,
            missing=number_format(self.missing, 1),
        )


def material(*, styles: tuple[str, ...]) -> dict[str, Material]:
    """Per style, the seconds of speech its validated in-style takes hold (edge silence excluded,
    pauses between them included), as Stage 1 will count them."""
    seconds: dict[str, list[float]] = {style: [] for style in styles}
    for sentence in _in_style_takes(styles):
        take = sentence.active_take
        speech = (take.prosody or {}).get("speech_seconds") or take.duration_seconds or 0.0
        seconds[take.style].append(float(speech))
    return {
        style: Material(style, len(spans), sum(spans) + PAUSE_SECONDS * max(0, len(spans) - 1))
        for style, spans in seconds.items()
    }


def style_sentences(*, styles: tuple[str, ...]) -> dict[str, list[str]]:
    """Per style, the corpus sentences labeled with it (else suggested for it), in corpus order:
    what a teacher speaks for that style's reference."""
    result: dict[str, list[str]] = {style: [] for style in styles}
    for sentence in Sentence.objects.select_related("current_label"):
        style = sentence.style or sentence.suggested_style
        if style in result:
            result[style].append(sentence.text)
    return result
