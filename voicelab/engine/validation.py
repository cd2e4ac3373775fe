"""Stage 3: does each evolved voice sound like its reference, naturally, and is it really new?

Each style's held-out phrases (of its own kind, never rendered during evolution) are
spoken with its voice and judged by models the walk does not climb: CAM++ for the speaker
(similarity to the reference, consistency across the phrases), DistillMOS for naturalness
(an absolute floor, and no more than a little below the start voice). Distinctness: the
voice must be closer to the reference than the stock voice it started from, and closer to
the reference than to any stock voice, so a start voice passed off as a distillation fails.
resemblyzer, which the search optimizes, is reported as the seed's figure, not gated on.
Across styles, the coefficient of variation of the prosody features must be above 5 % (the
styles must not all sound alike), on phrases every style speaks, so a difference in text
cannot pass for a difference in voice. The report lists every check with its judge,
threshold and value, which judges the voice was optimized against, and the audio it judged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import torch

from voicelab.engine.audio import write_wav
from voicelab.engine.config import STYLES, Thresholds
from voicelab.engine.files import atomic_path
from voicelab.engine.judges import campp_embedding, naturalness
from voicelab.engine.messages import Message
from voicelab.engine.prosody import analyze_prosody
from voicelab.engine.scoring import Target, cosine, speaker_embedding
from voicelab.engine.stock import StockIndex

SAMPLE_RATE = 24_000
# Spoken by every style for the differentiation check; in neither the corpus nor the scorer's texts.
COMMON_PHRASES = (
    "Le paso con el departamento correspondiente en un momento.",
    "Hemos recibido su consulta y le responderemos por correo.",
)
# Prosody features compared across styles (their means over the held-out phrases).
DIFFERENTIATION_FEATURES = ("pitch_mean", "pitch_std", "energy_mean_db", "speech_rate")

Speak = Callable[[str, torch.Tensor], np.ndarray]  # (text, voice) -> 24 kHz audio


def held_out_phrases(styles: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Each style's own held-out phrases (``StyleSpec.held_out``)."""
    return {style: STYLES[style].held_out for style in styles}


class _Renderer:
    """Renders each (style, phrase) once, written to ``out_dir/style/<name>.wav``."""

    def __init__(self, speak: Speak, out_dir: Path) -> None:
        self.speak, self.out_dir = speak, out_dir
        self.done: dict[tuple[str, str, str], tuple[np.ndarray, str]] = {}

    def __call__(
        self, style: str, voice: torch.Tensor, phrases: Sequence[str], prefix: str
    ) -> tuple[list[np.ndarray], list[str]]:
        for number, phrase in enumerate(phrases, start=1):
            if (style, prefix, phrase) not in self.done:
                audio = self.speak(phrase, voice)
                path = self.out_dir / style / f"{prefix}_{number}.wav"
                write_wav(path, audio, SAMPLE_RATE)
                self.done[style, prefix, phrase] = (audio, str(path))
        rendered = [self.done[style, prefix, phrase] for phrase in phrases]
        return [audio for audio, _ in rendered], [path for _, path in rendered]


def _prosody(renderings: Sequence[np.ndarray], phrases: Sequence[str]) -> dict[str, float | None]:
    """Mean prosody features over the renderings."""
    measured = [
        analyze_prosody(audio, SAMPLE_RATE, text=phrase).as_dict()
        for audio, phrase in zip(renderings, phrases, strict=True)
    ]
    return {key: _mean([m[key] for m in measured]) for key in measured[0]}


@dataclass(frozen=True)
class Check:
    """One measured value against its pass mark (``value >= threshold`` passes), and the judge
    that measured it. A check that does not ``gate`` is reported beside the verdict, not in it."""

    value: float
    threshold: float
    judge: str = ""
    gates: bool = True
    detail: Message | None = None  # what the value is measured against, for a person

    @property
    def passed(self) -> bool:
        return self.value >= self.threshold

    def as_dict(self) -> dict[str, Any]:
        detail = self.detail.as_dict() if self.detail else None
        return {**asdict(self), "detail": detail, "passed": self.passed}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Check:
        fields = {key: value for key, value in data.items() if key != "passed"}
        detail = fields.pop("detail", None)  # a report written before details were kept as messages holds text
        message = Message.from_dict(detail) if isinstance(detail, Mapping) else Message(detail) if detail else None
        return cls(**fields, detail=message)

    @classmethod
    def measured(cls, value: float, threshold: float, judge: str, **extra: Any) -> Check:
        return cls(round(value, 4), threshold, judge, **extra)


@dataclass(frozen=True)
class Listening:
    """An A/B pair: the reference's first sentence and the voice saying it (WAV paths)."""

    text: str
    target: str
    evolved: str


@dataclass(frozen=True)
class StyleVerdict:
    """One style's voice on its held-out phrases."""

    checks: dict[str, Check]
    prosody: dict[str, float | None]
    phrases: list[str]
    audio: list[str]  # the renderings judged, one per phrase
    listening: Listening | None = None
    origin: str = ""  # the start voice the search began from
    optimized_against: list[str] = field(default_factory=list)  # judges inside the search

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks.values() if check.gates)

    def as_dict(self) -> dict[str, Any]:
        return {
            "checks": {name: check.as_dict() for name, check in self.checks.items()},
            "prosody": self.prosody,
            "phrases": self.phrases,
            "audio": self.audio,
            "listening": asdict(self.listening) if self.listening else None,
            "origin": self.origin,
            "optimized_against": self.optimized_against,
            "passed": self.passed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StyleVerdict:
        listening = data.get("listening")
        return cls(
            checks={name: Check.from_dict(c) for name, c in data["checks"].items()},
            prosody=dict(data["prosody"]),
            phrases=list(data["phrases"]),
            audio=list(data["audio"]),
            listening=Listening(**listening) if listening else None,
            origin=data.get("origin", ""),
            optimized_against=list(data.get("optimized_against", [])),
        )


@dataclass(frozen=True)
class Differentiation:
    """Across styles, on phrases every style speaks: do the voices differ in prosody?
    ``applies`` is False for a single style, which has nothing to differ from."""

    phrases: list[str]
    prosody: dict[str, dict[str, float | None]]
    audio: dict[str, list[str]]
    coefficient_of_variation: dict[str, float]
    threshold: float
    applies: bool = True

    @property
    def value(self) -> float:
        return max(self.coefficient_of_variation.values(), default=0.0)

    @property
    def passed(self) -> bool:
        return not self.applies or self.value > self.threshold

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "value": self.value, "passed": self.passed}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Differentiation:
        return cls(
            phrases=list(data["phrases"]),
            prosody={style: dict(p) for style, p in data["prosody"].items()},
            audio={style: list(files) for style, files in data["audio"].items()},
            coefficient_of_variation=dict(data["coefficient_of_variation"]),
            threshold=data["threshold"],
            applies=data.get("applies", bool(data["prosody"])),
        )


@dataclass(frozen=True)
class ValidationReport:
    """Stage 3's verdict: every number, threshold and verdict, and the audio it judged.
    The run's database row and ``validation_report.json`` are both ``as_dict()`` of it."""

    styles: dict[str, StyleVerdict]
    differentiation: Differentiation

    @property
    def passed(self) -> bool:
        return all(verdict.passed for verdict in self.styles.values()) and self.differentiation.passed

    def as_dict(self) -> dict[str, Any]:
        return {
            "styles": {style: verdict.as_dict() for style, verdict in self.styles.items()},
            "differentiation": self.differentiation.as_dict(),
            "passed": self.passed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ValidationReport:
        return cls(
            styles={style: StyleVerdict.from_dict(verdict) for style, verdict in data["styles"].items()},
            differentiation=Differentiation.from_dict(data["differentiation"]),
        )

    def write(self, path: Path) -> None:
        with atomic_path(path) as temp:
            temp.write_text(json.dumps(self.as_dict(), indent=2, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> ValidationReport:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class Search:
    """How a style's voice was found: the start voice, its name, and the judges the search
    optimized (they cannot vouch for the result alone)."""

    start: torch.Tensor | None = None
    origin: str = ""
    optimized_against: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Judged:
    """One voice's renderings of the phrases, as the judges hear them."""

    renderings: list[np.ndarray]
    files: list[str]
    campp: list[np.ndarray]
    resemblyzer: list[np.ndarray]
    mos: float

    @classmethod
    def of(cls, renderings: list[np.ndarray], files: list[str]) -> _Judged:
        return cls(
            renderings,
            files,
            [campp_embedding(audio, SAMPLE_RATE) for audio in renderings],
            [speaker_embedding(audio, SAMPLE_RATE) for audio in renderings],
            float(np.mean([naturalness(audio, SAMPLE_RATE) for audio in renderings])),
        )

    def campp_to(self, embedding: np.ndarray) -> float:
        return float(np.mean([cosine(e, embedding) for e in self.campp]))


def _distinctness(
    judged: _Judged, target: Target, start: _Judged | None, stock: StockIndex | None, thresholds: Thresholds
) -> dict[str, Check]:
    """Is the voice more than a stock voice? Closer to the reference than its start voice, and
    closer to the reference than to any stock voice (those as close to the reference as a voice
    is to itself are the reference's own voice, not another one)."""
    similarity = judged.campp_to(target.campp)
    checks = {}
    if start is not None:
        checks["closer_than_start"] = Check.measured(
            similarity - start.campp_to(target.campp),
            thresholds.closer_than_start,
            "CAM++",
            detail=Message("start voice {similarity:.3f}", {"similarity": start.campp_to(target.campp)}),
        )
    if stock is not None:
        others = {
            name: judged.campp_to(stock.voice(name)[1])
            for name, (_, to_target) in stock.similarities(target.embedding, target.campp).items()
            if to_target < thresholds.speaker_similarity
        }
        nearest = max(others, key=others.get)
        checks["closer_than_stock"] = Check.measured(
            similarity - others[nearest],
            0.0,
            "CAM++",
            detail=Message(
                "nearest stock voice {voice} {similarity:.3f}", {"voice": nearest, "similarity": others[nearest]}
            ),
        )
    return checks


def _style_verdict(
    style: str,
    voice: torch.Tensor,
    target: Target,
    render: _Renderer,
    phrases: Sequence[str],
    thresholds: Thresholds,
    listening: Listening | None,
    search: Search,
    stock: StockIndex | None,
) -> StyleVerdict:
    judged = _Judged.of(*render(style, voice, phrases, "phrase"))
    start = _Judged.of(*render(style, search.start, phrases, "start")) if search.start is not None else None
    shortest = min(len(audio) for audio in judged.renderings) / SAMPLE_RATE
    checks = {
        "speaker_similarity": Check.measured(judged.campp_to(target.campp), thresholds.speaker_similarity, "CAM++"),
        "self_similarity": Check.measured(
            float(np.mean([cosine(a, b) for a, b in combinations(judged.campp, 2)])),
            thresholds.self_similarity,
            "CAM++",
        ),
        "naturalness": Check.measured(judged.mos, thresholds.naturalness, "DistillMOS"),
        **(
            {
                "naturalness_vs_start": Check.measured(
                    judged.mos - start.mos,
                    -thresholds.naturalness_drop,
                    "DistillMOS",
                    detail=Message("start voice {mos:.2f}", {"mos": start.mos}),
                )
            }
            if start is not None
            else {}
        ),
        **_distinctness(judged, target, start, stock, thresholds),
        "min_audio_seconds": Check.measured(shortest, thresholds.min_audio_seconds, "duration"),
        "seed_speaker_similarity": Check.measured(
            float(np.mean([cosine(e, target.embedding) for e in judged.resemblyzer])),
            thresholds.seed_speaker_similarity,
            "resemblyzer",
            gates=False,
            detail=Message("the seed's check; the search optimizes this encoder, so it is reported, not gated on"),
        ),
    }
    return StyleVerdict(
        checks=checks,
        prosody=_prosody(judged.renderings, phrases),
        phrases=list(phrases),
        audio=judged.files,
        listening=listening,
        origin=search.origin,
        optimized_against=list(search.optimized_against),
    )


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def differentiation(prosody: Mapping[str, Mapping[str, float | None]]) -> dict[str, float]:
    """Coefficient of variation (std / |mean|) of each prosody feature across the styles."""
    result = {}
    for feature in DIFFERENTIATION_FEATURES:
        values = [p[feature] for p in prosody.values() if p.get(feature) is not None]
        if len(values) >= 2 and np.mean(values) != 0:
            result[feature] = round(float(np.std(values) / abs(np.mean(values))), 4)
    return result


def validate(
    *,
    voices: Mapping[str, torch.Tensor],
    targets: Mapping[str, Target],
    speak: Speak,
    thresholds: Thresholds = Thresholds(),
    out_dir: Path,
    phrases: Mapping[str, Sequence[str]] | None = None,
    common_phrases: Sequence[str] = COMMON_PHRASES,
    listening: Mapping[str, Listening | None] | None = None,
    searches: Mapping[str, Search] | None = None,
    stock: StockIndex | None = None,
) -> ValidationReport:
    """Judge every style's voice; writes the renderings under ``out_dir``.

    ``phrases`` maps each style to its held-out phrases (default: the style's own);
    ``listening``, each style to the A/B pair its report offers; ``searches``, each style to
    how its voice was found (without its start voice, ``closer_than_start`` is not checked);
    ``stock``, the stock voices the voice must be closer to the reference than (without it,
    ``closer_than_stock`` is not checked).
    """
    phrases = phrases or held_out_phrases(list(voices))
    listening, searches = listening or {}, searches or {}
    render = _Renderer(speak, out_dir)
    styles = {
        style: _style_verdict(
            style,
            voice,
            targets[style],
            render,
            phrases[style],
            thresholds,
            listening.get(style),
            searches.get(style, Search()),
            stock,
        )
        for style, voice in voices.items()
    }
    # One style has nothing to differ from: the check does not apply, nothing is rendered for it.
    compared = voices if len(voices) >= 2 else {}
    common = {style: render(style, voice, common_phrases, "common") for style, voice in compared.items()}
    prosody = {style: _prosody(renderings, common_phrases) for style, (renderings, _) in common.items()}
    across = Differentiation(
        phrases=list(common_phrases),
        prosody=prosody,
        audio={style: files for style, (_, files) in common.items()},
        coefficient_of_variation=differentiation(prosody),
        threshold=thresholds.style_differentiation_cov,
        applies=bool(compared),
    )
    return ValidationReport(styles=styles, differentiation=across)
