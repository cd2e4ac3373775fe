import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from distillation.services.material import build_references
from distillation.services.teacher import configured_teacher
from distillation.services.tts_keys import lab_tts_client
from voicelab.engine.config import OPTIMIZERS, STYLE_NAMES, PipelineConfig
from voicelab.engine.errors import CLEAR_ERRORS
from voicelab.engine.evolution import Phase, StepEvent
from voicelab.engine.pipeline import Evolution, Pipeline

STAGES = ("all", "reference", "evolve", "validate", "deploy")


class Command(BaseCommand):
    help = "Run the distillation pipeline: Stage 1 reference, 2 evolve, 3 validate, 4 deploy."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--stage", choices=STAGES, default="all")
        parser.add_argument("--styles", nargs="+", choices=STYLE_NAMES)
        parser.add_argument("--steps", type=int, help="Search steps (default: the optimizer's own).")
        parser.add_argument("--seed", type=int)
        parser.add_argument(
            "--optimizer",
            choices=OPTIMIZERS,
            help="Stage 2's search: gradient (default), the seed's random walk, or gradient then walk.",
        )
        parser.add_argument("--resume", action="store_true", help="Continue each style from its checkpoint.")
        parser.add_argument("--force", action="store_true", help="Deploy styles that failed validation.")
        parser.add_argument("--output", type=Path, default=settings.DATA_DIR / "distillation")
        parser.add_argument(
            "--source",
            choices=("recordings", "f5", "clip"),
            default="recordings",
            help="Stage 1 from the labeled recordings, from the F5-TTS teacher, or from one clip of the "
            "speaker (--reference-audio, 5 s or more).",
        )
        parser.add_argument("--tts-url", help="A teacher server (POST /synthesize) instead of F5-TTS in process.")
        parser.add_argument(
            "--reference-audio", type=Path, help="The voice to clone: the clip (--source clip) or F5-TTS's reference."
        )
        parser.add_argument("--reference-text", default="", help="Its transcript (F5-TTS in process).")
        parser.add_argument("--f5-checkpoint", type=Path, help="Local F5-TTS checkpoint (F5-TTS in process).")
        parser.add_argument("--f5-vocoder", type=Path, help="Local vocos vocoder folder (F5-TTS in process).")

    def handle(self, *args: object, **options: object) -> None:
        try:
            self._run(**options)
        except CLEAR_ERRORS as exc:
            raise CommandError(str(exc)) from None

    def _run(
        self,
        *,
        stage: str,
        styles: list[str] | None,
        steps: int | None,
        seed: int | None,
        optimizer: str | None,
        resume: bool,
        force: bool,
        output: Path,
        source: str,
        tts_url: str | None,
        reference_audio: Path | None,
        reference_text: str,
        f5_checkpoint: Path | None,
        f5_vocoder: Path | None,
        **options: object,
    ) -> None:
        given = {"steps": steps, "seed": seed, "optimizer": optimizer}
        overrides = {key: value for key, value in given.items() if value is not None}
        config = PipelineConfig.from_env(root=output, styles=tuple(styles or ()), **overrides)
        pipeline = Pipeline(config, settings.VOICELAB_MODELS_DIR)
        report = None
        if stage in ("all", "reference"):
            teacher, clip = None, None
            if source == "clip":
                if reference_audio is None:
                    raise CommandError("--source clip needs --reference-audio: a WAV, FLAC or OGG of the speaker.")
                clip = reference_audio
            elif source == "f5" or tts_url:
                teacher = configured_teacher(
                    reference_audio=reference_audio,
                    reference_text=reference_text,
                    url=tts_url,
                    checkpoint=f5_checkpoint,
                    vocoder=f5_vocoder,
                )
            for style, path in build_references(pipeline, teacher=teacher, clip=clip).items():
                self.stdout.write(f"Stage 1 {style}: {path}")
        if stage in ("all", "evolve"):
            with pipeline.evolution() as evolution:
                for style in config.styles:
                    self._evolve(evolution, style, resume=resume)
        if stage in ("all", "validate"):
            report = pipeline.validate()
            for style, result in report.styles.items():
                verdict = "passed" if result.passed else "FAILED"
                checks = ", ".join(
                    f"{k} {c.value} (≥ {c.threshold}, {c.judge}{'' if c.gates else ', not gated'})"
                    for k, c in result.checks.items()
                )
                self.stdout.write(f"Stage 3 {style}: {verdict} — {checks}")
                self.stdout.write(f"  optimized against: {', '.join(result.optimized_against) or 'nothing'}")
            self.stdout.write(f"Report: {config.paths.validation_report()}")
        if stage in ("all", "deploy"):
            result = pipeline.deploy(
                report or pipeline.written_report(),
                target_dir=settings.VOICELAB_DEPLOYED_VOICES_DIR,
                env_file=settings.VOICELAB_ENV_FILE,
                force=force,
                tts=lab_tts_client(),
            )
            for style, path in result.deployed.items():
                self.stdout.write(f"Stage 4 {style}: {path}")
            for key, (before, after) in result.env_changes.items():
                self.stdout.write(f"  {settings.VOICELAB_ENV_FILE}: {key} {before!r} → {after!r}")
            for warning in result.warnings:
                self.stderr.write(self.style.WARNING(str(warning)))

    def _evolve(self, evolution: Evolution, style: str, *, resume: bool) -> None:
        total = evolution.config.evolution.steps
        quiet = os.environ.get("CI") == "true"
        with tqdm(total=total, desc=f"evolve {style}", unit="step", disable=quiet) as bar:

            def phase(phase: Phase) -> None:
                bar.set_description_str(f"{style}: {phase.name} {phase.done}/{phase.total}")
                if phase.done == phase.total:
                    self.stdout.write(f"Stage 2 {style}: {phase.name} {phase.done}/{phase.total}")

            def progress(event: StepEvent) -> None:
                bar.set_description_str(f"evolve {style}")
                bar.n = event.step
                bar.set_postfix(best=f"{event.best_score:.2f}", score=f"{event.score:.2f}", refresh=False)
                bar.refresh()

            state = evolution.run(style, resume=resume, on_step=progress, on_phase=phase)
        self.stdout.write(
            f"Stage 2 {style}: {evolution.config.evolution.optimizer}, best {state.best_score.score:.2f} "
            f"(start {state.start_score:.2f}, from {state.origin}) → {evolution.config.paths.evolved_voice(style)}"
        )
