"""Configuration shared by the whole pipeline: the voice styles, scoring, thresholds, paths."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from voicelab.engine.errors import EngineError

# The styles are defined in styles.py, next to the rules takes are checked by (quality.py
# reads them, and config must not import quality); they are imported from here too.
from voicelab.engine.styles import STYLE_NAMES as STYLE_NAMES
from voicelab.engine.styles import STYLES as STYLES
from voicelab.engine.styles import StyleSpec as StyleSpec
from voicelab.engine.styles import UnknownStyleError as UnknownStyleError
from voicelab.engine.styles import get_style as get_style


class ConfigError(EngineError):
    """Settings that cannot be run: a stored record this version does not read."""


# --- the distillation pipeline ------------------------------------------------------------


@dataclass(frozen=True)
class ScoringWeights:
    """Weights of the hybrid score's weighted harmonic mean (the seed's table)."""

    target: float = 0.48  # resemblyzer cosine: rendering vs the reference audio
    self_similarity: float = 0.50  # the same voice across different texts
    features: float = 0.02  # MFCCs, spectral centroid, pitch, energy

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.target, self.self_similarity, self.features)


@dataclass(frozen=True)
class Thresholds:
    """Stage 3's pass marks (the seed's "Umbrales de Calidad")."""

    speaker_similarity: float = 0.70
    self_similarity: float = 0.85
    style_differentiation_cov: float = 0.05  # coefficient of variation across styles
    min_audio_seconds: float = 1.0


@dataclass(frozen=True)
class EvolutionSettings:
    """Stage 2's random walk (KVoiceWalk) and its starting-point search."""

    steps: int = 10_000
    diversity: tuple[float, float] = (0.01, 0.15)
    early_termination_ratio: float = 0.98
    base_voices: tuple[str, ...] = ("ef_dora", "em_alex", "em_santa")
    interpolation_alphas: tuple[float, ...] = tuple(round(-1.5 + 0.1 * i, 1) for i in range(31))
    checkpoint_every: int = 100
    seed: int | None = None
    # Candidates scored at once, all mutated from the same best voice (one per worker
    # process on a CPU, a batch on a GPU); the best improving one is kept.
    batch: int = 1


@dataclass(frozen=True)
class PipelinePaths:
    """Where each stage reads and writes, under one root (the seed's layout)."""

    root: Path

    def reference_audio(self, style: str) -> Path:
        return self.root / "reference_audio" / style / "target.wav"

    def reference_text(self, style: str) -> Path:
        return self.reference_audio(style).with_suffix(".txt")

    def preview_clip(self, style: str, which: str) -> Path:
        """The live page's A/B clip of a walk: ``which`` is "target" or "best" (see preview.py)."""
        return self.root / "preview" / style / f"{which}.wav"

    def evolved_voice(self, style: str) -> Path:
        return self.root / "evolved_voices" / f"{style}.pt"

    def validation_report(self) -> Path:
        return self.root / "validation" / "validation_report.json"


@dataclass(frozen=True)
class PipelineConfig:
    """One source of truth for a run; ``from_env`` reads ``VOICELAB_DISTILLATION_*`` overrides."""

    paths: PipelinePaths
    styles: tuple[str, ...] = STYLE_NAMES
    scoring: ScoringWeights = field(default_factory=ScoringWeights)
    thresholds: Thresholds = field(default_factory=Thresholds)
    evolution: EvolutionSettings = field(default_factory=EvolutionSettings)

    def __post_init__(self) -> None:
        for style in self.styles:
            get_style(style)

    @classmethod
    def from_env(cls, *, root: Path, environ: Mapping[str, str] = os.environ, **overrides: object) -> PipelineConfig:
        """Defaults, then ``VOICELAB_DISTILLATION_STEPS`` / ``_SEED`` / ``_STYLES`` / ``_ALPHAS`` from the
        environment, then explicit ``overrides`` (what a CLI flag or a launch form says)."""
        evolution: dict[str, object] = {}
        if environ.get("VOICELAB_DISTILLATION_STEPS"):
            evolution["steps"] = int(environ["VOICELAB_DISTILLATION_STEPS"])
        if environ.get("VOICELAB_DISTILLATION_SEED"):
            evolution["seed"] = int(environ["VOICELAB_DISTILLATION_SEED"])
        if environ.get("VOICELAB_DISTILLATION_ALPHAS"):  # e.g. "0" for a quick start-point search
            evolution["interpolation_alphas"] = tuple(
                float(a) for a in environ["VOICELAB_DISTILLATION_ALPHAS"].split(",")
            )
        evolution |= {k: v for k, v in overrides.items() if k in {f.name for f in fields(EvolutionSettings)}}
        styles = (
            overrides.get("styles")
            or tuple(s for s in environ.get("VOICELAB_DISTILLATION_STYLES", "").split(",") if s)
            or STYLE_NAMES
        )
        return cls(paths=PipelinePaths(Path(root)), styles=tuple(styles), evolution=EvolutionSettings(**evolution))

    def record(self) -> dict[str, Any]:
        """Every setting but where the files go, as JSON: what a run stores when it is launched,
        so that its worker runs exactly that, whatever its own environment says."""
        return {
            "styles": list(self.styles),
            "scoring": asdict(self.scoring),
            "thresholds": asdict(self.thresholds),
            "evolution": asdict(self.evolution),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any], *, root: Path) -> PipelineConfig:
        """The configuration ``record()`` stored, with its files under ``root``."""
        try:
            evolution = {k: tuple(v) if isinstance(v, list) else v for k, v in record["evolution"].items()}
            return cls(
                paths=PipelinePaths(Path(root)),
                styles=tuple(record["styles"]),
                scoring=ScoringWeights(**record["scoring"]),
                thresholds=Thresholds(**record["thresholds"]),
                evolution=EvolutionSettings(**evolution),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"The stored settings cannot be read by this version ({exc}).") from None
