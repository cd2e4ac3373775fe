"""The four stages wired together (``Pipeline``), for the CLI and the Celery tasks alike.

Each stage reads what the previous one wrote under ``PipelineConfig.paths``, so any
stage can be run alone (``--stage evolve`` after ``--stage reference``) and a killed
evolution resumes from its checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from voicelab.engine.assets import ModelAssets, require
from voicelab.engine.audio import read_audio, write_wav
from voicelab.engine.config import PipelineConfig
from voicelab.engine.deploy import DeployReport, deploy
from voicelab.engine.errors import EngineError
from voicelab.engine.evolution import DESCRIBING_STOCK, Phase, StepEvent, VoiceEvolver, WalkState, ranked_starts
from voicelab.engine.gradient import GradientSearch
from voicelab.engine.messages import Message, message_of
from voicelab.engine.pace import relative_pace, speech_rate
from voicelab.engine.preview import listening_pair
from voicelab.engine.reference import (
    Clip,
    NotEnoughMaterial,
    Reference,
    build_reference,
    clip_reference,
    read_speech_rate,
    write_reference,
)
from voicelab.engine.scoring import FitnessScorer, Target, each
from voicelab.engine.start import nearest_voices, spread, start_candidates
from voicelab.engine.stock import StockIndex, stock_index, stock_voices
from voicelab.engine.synthesis import SynthesisConfig, SynthesisPool, TorchSynthesizer, create_synthesizer
from voicelab.engine.teacher import Teacher, teacher_reference
from voicelab.engine.tts_client import TTSClient
from voicelab.engine.validation import Search, ValidationReport, validate
from voicelab.engine.voices import load_voice, save_voice

# Speaker embeddings do not depend on the text: candidates render two short phrases,
# not the whole 20-30 s reference (the biggest saving per step on a CPU).
EVOLUTION_TEXTS = ("Buenos días, ¿en qué puedo ayudarle?", "Gracias por su llamada.")
# The judges each search optimizes, named in the report beside every figure: the start is chosen
# by resemblyzer and CAM++ together, the walk climbs resemblyzer, the gradient both.
OPTIMIZED_AGAINST = {
    "walk": ("resemblyzer", "CAM++ (start choice only)"),
    "gradient": ("resemblyzer", "CAM++"),
    "hybrid": ("resemblyzer", "CAM++"),
}

PhaseCallback = Callable[[Phase], None]


class PipelineError(EngineError):
    """A stage that cannot run; the message says what is missing and what to do."""


def _write_references(config: PipelineConfig, make: Callable[[str], Reference]) -> dict[str, Path]:
    """Stage 1's output for every style, whatever the source; a shortage names its style."""
    written = {}
    for style in config.styles:
        try:
            reference = make(style)
        except NotEnoughMaterial as exc:
            raise NotEnoughMaterial(
                Message("{style}: {problem}", {"style": style, "problem": message_of(exc)})
            ) from None
        path = config.paths.reference_audio(style)
        write_reference(reference, path, speech_rate=speech_rate(reference))
        written[style] = path
    return written


def load_target(config: PipelineConfig, style: str) -> Target:
    path = config.paths.reference_audio(style)
    if not path.is_file():
        raise PipelineError(
            Message(
                "No reference audio for {style} at {path}: run the reference stage first.",
                {"style": style, "path": str(path)},
            )
        )
    audio = read_audio(path)
    return Target.from_audio(audio.samples, audio.sample_rate)


@dataclass
class Evolution:
    """Stage 2 for the configured styles, one after another: a start among the stock voices,
    then the configured search (walk, gradient or hybrid).

    Candidates are scored ``pool.config.processes`` at a time when the pool spreads over
    processes (CPU), or in batches of ``evolution.batch`` on one torch model (GPU). The
    gradient trains through a torch model of its own, on every core.
    """

    config: PipelineConfig
    assets: ModelAssets
    pool: SynthesisPool

    def scorer(self, style: str, target: Target | None = None) -> FitnessScorer:
        return FitnessScorer(
            target=target or load_target(self.config, style),
            render=self.pool.synthesize_many,
            texts=EVOLUTION_TEXTS,
            weights=self.config.scoring,
            early_termination_ratio=self.config.evolution.early_termination_ratio,
        )

    def stock(self, on_phase: PhaseCallback | None = None) -> StockIndex:
        """The stock voices' index, made first if the voices changed (minutes, once)."""
        tell = on_phase or (lambda phase: None)
        return stock_index(
            self.assets,
            self.pool.synthesize_many,
            lambda done, total: tell(Phase(DESCRIBING_STOCK, done, total)),
            batch=self.pool.config.processes,
            voices=self.voices,
        )

    @cached_property
    def voices(self) -> dict[str, torch.Tensor]:
        """The stock voices, read once for the start, the index's key and the search's unit."""
        return stock_voices(self.assets)

    def candidates(self, target: Target, on_phase: PhaseCallback | None = None) -> dict[str, torch.Tensor]:
        """The starts to score: the stock voices nearest to the target, and blends of them."""
        settings = self.config.evolution
        voices = self.voices
        among = settings.base_voices or tuple(voices)
        nearest = nearest_voices(self.stock(on_phase), target, among=among, k=settings.start_candidates)
        return start_candidates(voices, [name for name, _ in nearest], settings.interpolation_alphas)

    def starts(
        self, scorer: FitnessScorer, target: Target, *, batch: int, on_phase: PhaseCallback | None
    ) -> dict[str, torch.Tensor]:
        """The gradient's starts, best first: as many of the best-ranked candidates as it trains
        side by side (``parallel_starts``, by default 1 on a CPU and 4 on a GPU)."""
        settings = self.config.evolution
        keep = settings.parallel_starts or (4 if self.trainer.device.type == "cuda" else 1)
        candidates = self.candidates(target, on_phase)
        ranked = ranked_starts(scorer, candidates, batch=batch, on_phase=on_phase)
        return {name: candidates[name] for name, _ in ranked[:keep]}

    def checkpoint(self, style: str) -> Path:
        return self.config.paths.evolved_voice(style).with_suffix(".checkpoint")

    @cached_property
    def trainer(self) -> TorchSynthesizer:
        """The gradient's differentiable renderer (the PyTorch weights, every core)."""
        config = SynthesisConfig.for_device(throughput=False)
        return TorchSynthesizer(require(self.assets.root, need_torch=True), replace(config, backend="torch"))

    def run(
        self,
        style: str,
        *,
        resume: bool = False,
        on_step: Callable[[StepEvent], None] | None = None,
        on_best: Callable[[torch.Tensor], None] | None = None,
        on_phase: PhaseCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> WalkState:
        settings = self.config.evolution
        settings = replace(settings, batch=max(settings.batch, self.pool.config.processes))
        checkpoint = self.checkpoint(style)
        target = load_target(self.config, style)
        scorer = self.scorer(style, target)
        unit = spread(self.voices)
        before = WalkState.load(checkpoint) if resume and checkpoint.is_file() else None
        callbacks = {"on_step": on_step, "on_best": on_best, "on_phase": on_phase, "should_stop": should_stop}
        state = None
        if settings.optimizer != "walk" and (before is None or before.optimizer == "gradient"):
            steps = settings.steps if settings.optimizer == "gradient" else min(settings.gradient_steps, settings.steps)
            state = GradientSearch(
                synthesizer=self.trainer,
                render=self.pool.synthesize_many,
                target=target,
                starts={} if before else self.starts(scorer, target, batch=settings.batch, on_phase=on_phase),
                spread=unit,
                settings=settings,
                checkpoint=checkpoint,
                steps=steps,
                weights=self.config.scoring,
                **callbacks,
            ).run(resume=before is not None)
            stopped = state.step < steps
            if settings.optimizer == "gradient" or stopped:
                return self._finish(style, state)
        walk = VoiceEvolver(
            scorer=scorer,
            candidates={} if state is not None or before is not None else self.candidates(target, on_phase),
            spread=unit,
            settings=settings,
            checkpoint=checkpoint,
            after=state,
            **callbacks,
        )
        return self._finish(style, walk.run(resume=state is None and before is not None))

    def _finish(self, style: str, state: WalkState) -> WalkState:
        self.save(style, state.best)
        if state.start is not None:
            save_voice(state.start, self.config.paths.start_voice(style))
        return state

    def save(self, style: str, voice: torch.Tensor) -> Path:
        """``evolved_voices/{style}.pt`` and a sample WAV beside it, to listen to what was evolved."""
        path = self.config.paths.evolved_voice(style)
        save_voice(voice, path)
        sample = self.pool.synthesize_many(EVOLUTION_TEXTS[0], [voice])[0]
        write_wav(path.with_suffix(".wav"), np.asarray(sample), 24_000)
        return path


@dataclass
class Pipeline:
    """The four stages over one configuration and one models folder, for the CLI and the
    Celery tasks alike (as kokoro's ``KPipeline`` is one door to its parts). Each stage
    reads what the one before wrote under ``config.paths``; models load when a stage
    first needs them.
    """

    config: PipelineConfig
    models_dir: Path

    @cached_property
    def assets(self) -> ModelAssets:
        return require(self.models_dir)

    # ---- Stage 1 --------------------------------------------------------------------------

    def reference(self, clips: Mapping[str, Sequence[Clip]]) -> dict[str, Path]:
        """From labeled recordings: the best validated takes of each style."""
        return _write_references(self.config, lambda style: build_reference(clips.get(style, ())))

    def from_clip(self, audio: Path) -> dict[str, Path]:
        """From one recording of the speaker (WAV, FLAC or OGG; 5 s of speech or more): the clip
        is the reference of every style, with no teacher and no labeled takes."""
        clip = read_audio(audio)
        return _write_references(self.config, lambda style: clip_reference(clip.samples, clip.sample_rate))

    def teach(self, teacher: Teacher, sentences: Mapping[str, Sequence[str]]) -> dict[str, Path]:
        """From a teacher (F5-TTS): each style's sentences at its speed."""
        return _write_references(self.config, lambda style: teacher_reference(teacher, style, sentences.get(style, ())))

    # ---- Stage 2 --------------------------------------------------------------------------

    @contextmanager
    def evolution(self) -> Iterator[Evolution]:
        """The walks' renderer, spread over processes on a CPU or batched on a GPU."""
        with SynthesisPool(self.assets, SynthesisConfig.for_device(throughput=True)) as pool:
            yield Evolution(self.config, self.assets, pool)

    # ---- Stage 3 --------------------------------------------------------------------------

    def validate(self) -> ValidationReport:
        """Judge the evolved voices; the report is also written to its JSON file."""
        config, assets = self.config, self.assets  # missing models first: nothing else can be judged
        voices = {}
        for style in config.styles:
            path = config.paths.evolved_voice(style)
            if not path.is_file():
                raise PipelineError(
                    Message(
                        "No evolved voice for {style} at {path}: run the evolve stage first.",
                        {"style": style, "path": str(path)},
                    )
                )
            voices[style] = load_voice(path)
        speak = create_synthesizer(assets, SynthesisConfig.for_device(throughput=False)).synthesize
        report_path = config.paths.validation_report()
        out_dir = report_path.parent
        report = validate(
            voices=voices,
            targets={style: load_target(config, style) for style in config.styles},
            speak=speak,
            thresholds=config.thresholds,
            out_dir=out_dir,
            listening={style: listening_pair(config.paths, style, v, speak, out_dir) for style, v in voices.items()},
            searches={style: self._search(style) for style in config.styles},
            stock=stock_index(assets, each(speak)),
        )
        report.write(report_path)
        return report

    def _search(self, style: str) -> Search:
        """How the style's voice was found, from what Stage 2 left beside it."""
        start_path = self.config.paths.start_voice(style)
        checkpoint = self.config.paths.evolved_voice(style).with_suffix(".checkpoint")
        origin = WalkState.load(checkpoint).origin if checkpoint.is_file() else ""
        return Search(
            start=load_voice(start_path) if start_path.is_file() else None,
            origin=origin,
            optimized_against=OPTIMIZED_AGAINST[self.config.evolution.optimizer],
        )

    def written_report(self) -> ValidationReport:
        """The report Stage 3 wrote, for a deploy run on its own (``--stage deploy``)."""
        report_path = self.config.paths.validation_report()
        if not report_path.is_file():
            raise PipelineError(
                Message("No validation report at {path}: run the validate stage first.", {"path": str(report_path)})
            )
        return ValidationReport.read(report_path)

    # ---- Stage 4 --------------------------------------------------------------------------

    def deploy(
        self, report: ValidationReport, *, target_dir: Path, env_file: Path, force: bool, tts: TTSClient | None
    ) -> DeployReport:
        """The styles Stage 3 judged to the TTS service (those failing it only with ``force``)."""
        styles = [style for style in self.config.styles if style in report.styles]
        return deploy(
            evolved={style: self.config.paths.evolved_voice(style) for style in styles},
            passed={style: report.styles[style].passed for style in styles},
            target_dir=target_dir,
            env_file=env_file,
            active=styles[0] if styles else "",
            force=force,
            tts=tts,
            pace=self.pace(styles),
        )

    def pace(self, styles: Sequence[str]) -> dict[str, float]:
        """The styles' pace as Stage 1 measured it on their references, against neutral's (a
        reference written before it was measured has none: the seed's speed stands)."""
        rates = {style: read_speech_rate(self.config.paths.reference_audio(style)) for style in {*styles, "neutral"}}
        paces = relative_pace({style: rate for style, rate in rates.items() if rate})
        return {style: pace for style, pace in paces.items() if style in styles}
