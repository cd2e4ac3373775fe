"""A walk's progress made audible and visible: the target's first sentence against the
current best voice saying the same text, with both pitch and level contours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from voicelab.engine.audio import write_wav
from voicelab.engine.config import PipelinePaths
from voicelab.engine.prosody import contours
from voicelab.engine.reference import SAMPLE_RATE, read_reference
from voicelab.engine.scoring import RenderMany
from voicelab.engine.validation import Listening, Speak


def listening_pair(
    paths: PipelinePaths, style: str, voice: torch.Tensor, speak: Speak, out_dir: Path
) -> Listening | None:
    """The target's first sentence and the voice saying it, for A/B listening (None without spans)."""
    reference = read_reference(paths.reference_audio(style))
    if not reference.segments:
        return None
    text = reference.segments[0].text
    files = {"target": out_dir / style / "ab_target.wav", "evolved": out_dir / style / "ab_evolved.wav"}
    write_wav(files["target"], reference.excerpt(0), SAMPLE_RATE)
    write_wav(files["evolved"], np.asarray(speak(text, voice), dtype=np.float32), SAMPLE_RATE)
    return Listening(text=text, target=str(files["target"]), evolved=str(files["evolved"]))


class ProsodyPreview:
    """Renders the best voice on the target's first sentence; writes ``preview/{style}/*.wav``."""

    def __init__(self, paths: PipelinePaths, style: str, render: RenderMany) -> None:
        self.reference = read_reference(paths.reference_audio(style))
        self.paths, self.style = paths, style
        self.render = render
        self.target = self.reference.excerpt(0) if self.reference.segments else None

    @property
    def available(self) -> bool:
        """A reference written without its sentence spans has nothing to compare."""
        return self.target is not None

    def __call__(self, voice: torch.Tensor) -> dict:
        text = self.reference.segments[0].text
        best = np.asarray(self.render(text, [voice])[0], dtype=np.float32)
        if not self.path("target").is_file():
            write_wav(self.path("target"), self.target, SAMPLE_RATE)
        write_wav(self.path("best"), best, SAMPLE_RATE)
        return {
            "text": text,
            "target": contours(self.target, SAMPLE_RATE).as_dict(),
            "best": contours(best, SAMPLE_RATE).as_dict(),
        }

    def path(self, which: str) -> Path:
        return self.paths.preview_clip(self.style, which)
