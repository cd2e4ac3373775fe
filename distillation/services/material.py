"""What Stage 1 can be built from: the annotators' validated takes, and the corpus sentences."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.utils.formats import number_format
from django.utils.translation import ngettext

from labeling.models import Sentence
from labeling.selectors import in_style_takes, reference_seconds
from voicelab.engine.audio import AudioError, read_audio
from voicelab.engine.config import get_style
from voicelab.engine.pipeline import Pipeline
from voicelab.engine.reference import MIN_SECONDS, Clip
from voicelab.engine.teacher import Teacher


def labeled_clips(*, styles: tuple[str, ...]) -> dict[str, list[Clip]]:
    """Validated takes per style, recorded in the style their sentence is labeled with."""
    clips: dict[str, list[Clip]] = {style: [] for style in styles}
    for sentence in in_style_takes(styles=styles):
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
    """Per style, the seconds of speech Stage 1 will have (``labeling.selectors.reference_seconds``)."""
    return {
        style: Material(style, takes, seconds) for style, (takes, seconds) in reference_seconds(styles=styles).items()
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
