"""Stage 2 side by side: this pipeline versus a KVoiceWalk-style loop as published.

Same model weights, target audio, base voices, seed and wall-clock budget for both:

- baseline: the torch backend in one process, every candidate rendering the full target
  transcript and a second text from scratch (``KModel.forward``, no cache), one
  candidate at a time, early termination at 0.98;
- pipeline: the engine's defaults for this device (on a CPU: int8 onnx over one
  single-thread process per core, candidates scored in batches), rendering two short
  phrases (speaker embeddings do not depend on the text).

Printed: steps completed, steps/s and candidate syntheses/s while walking (the budget
also covers the start-point search, the same for both), and the held-out speaker
similarity (the seed's resemblyzer check in Stage 3) of each one's best voice, judged by the same
renderer. Both walk resemblyzer: this compares their speed; ``benchmarks.quality`` compares searches
by the judges they do not optimize.
The scores themselves are not comparable across contenders: they rate different texts.

    python -m benchmarks.pipeline [--budget SECONDS]   # default 600 s each, as the issue asks
"""

from __future__ import annotations

import argparse
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import torch

REFERENCE = (
    "Buenos días, gracias por llamar a nuestro servicio de atención al cliente. Le atiende el "
    "departamento de facturación. Para continuar, necesito verificar su identidad con su número de "
    "documento. Le confirmo que el cambio de tarifa quedará activo a partir de mañana."
)
SECOND_TEXT = "Lamento mucho las molestias que le ha causado este retraso."
# The target speaks a mix of styles, so it is judged on one held-out phrase of three styles' kinds.
HELD_OUT = (
    "Le llamamos para confirmar su cita del próximo martes a las diez.",
    "Siento mucho las molestias; ya hemos enviado a un técnico a su domicilio.",
    "Para continuar, indíquenos el número de contrato que figura en su factura.",
)
TARGET_VOICE, BASE_VOICES = "em_santa", ("ef_dora", "em_alex")
SEED = 7


class BudgetSpent(Exception):
    """Raised from the step callback when a contender's time is up."""


@dataclass
class Result:
    label: str
    steps: int = 0
    syntheses: int = 0
    seconds: float = 0.0
    start_score: float = 0.0
    best_score: float = 0.0
    held_out: float = 0.0


def counted(render, result: Result):
    def render_many(text: str, voices: list[torch.Tensor]) -> list[np.ndarray]:
        result.syntheses += len(voices)
        return render(text, voices)

    return render_many


def contest(
    label: str, render, texts: tuple[str, str], batch: int, target, budget: float, folder: Path
) -> tuple[Result, torch.Tensor]:
    from voicelab.engine.config import EvolutionSettings
    from voicelab.engine.evolution import VoiceEvolver, WalkState
    from voicelab.engine.scoring import FitnessScorer
    from voicelab.engine.start import start_candidates
    from voicelab.engine.voices import population_std

    result = Result(label)
    scorer = FitnessScorer(target=target, render=counted(render, result), texts=texts)
    settings = EvolutionSettings(
        optimizer="walk", steps=10**9, seed=SEED, interpolation_alphas=(0.0,), batch=batch, checkpoint_every=10
    )
    started = time.perf_counter()
    walking: list[float] = []  # step times: the rates leave out the (equal) start-point search

    def on_step(event) -> None:
        result.steps = event.step
        walking.append(time.perf_counter())
        if walking[0] == walking[-1]:
            result.syntheses = 0  # count the walk's renders only
        if walking[-1] - started > budget:
            raise BudgetSpent

    checkpoint = folder / f"{label.split()[0]}.ckpt"
    evolver = VoiceEvolver(
        scorer=scorer,
        candidates=start_candidates(BASES, list(BASES), settings.interpolation_alphas),
        spread=population_std(list(BASES.values())),
        settings=settings,
        checkpoint=checkpoint,
        on_step=on_step,
    )
    with contextlib.suppress(BudgetSpent):
        evolver.run()
    result.seconds = walking[-1] - walking[0]
    result.steps -= 1  # steps after the first timed one
    state = WalkState.load(checkpoint)  # saved on every improvement: it holds the best voice
    result.start_score, result.best_score = state.start_score, state.best_score.score
    return result, state.best


BASES: dict[str, torch.Tensor] = {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=600.0, help="Seconds of walking for each contender.")
    budget = parser.parse_args().budget

    from voicelab.engine.assets import require
    from voicelab.engine.g2p import phonemize
    from voicelab.engine.pipeline import EVOLUTION_TEXTS
    from voicelab.engine.scoring import Target
    from voicelab.engine.synthesis import OnnxSynthesizer, SynthesisConfig, SynthesisPool, TorchSynthesizer
    from voicelab.engine.validation import validate
    from voicelab.engine.voices import load_voice

    assets = require(Path("data/models"), need_torch=True)
    voices = {name: load_voice(assets.voice_path(name)) for name in (TARGET_VOICE, *BASE_VOICES)}
    BASES.update({name: voices[name] for name in BASE_VOICES})
    judge = OnnxSynthesizer(assets, SynthesisConfig(threads=2))
    target = Target.from_audio(judge.synthesize(REFERENCE, voices[TARGET_VOICE]), 24_000)
    print(
        f"target: {TARGET_VOICE} speaking {len(REFERENCE)} characters; bases {', '.join(BASE_VOICES)}; "
        f"seed {SEED}; budget {budget:.0f} s each; start-point search over the bases and their midpoint"
    )

    results = []
    with TemporaryDirectory() as folder:
        plain = TorchSynthesizer(assets, SynthesisConfig(backend="torch", threads=2))

        def from_scratch(text: str, voices: list[torch.Tensor]) -> list[np.ndarray]:
            phonemes = phonemize(text)  # the whole transcript fits one pass (< 510 phonemes)
            return [plain.model(phonemes, plain.style_row(phonemes, v)).numpy() for v in voices]

        results.append(
            contest(
                "baseline (KVoiceWalk-style, torch, full texts)",
                from_scratch,
                (REFERENCE, SECOND_TEXT),
                1,
                target,
                budget,
                Path(folder),
            )
        )
        config = SynthesisConfig.for_device(throughput=True)
        with SynthesisPool(assets, config) as pool:
            results.append(
                contest(
                    f"pipeline ({config.backend} {config.threads}t x {config.processes}p, short texts)",
                    pool.synthesize_many,
                    EVOLUTION_TEXTS,
                    config.processes,
                    target,
                    budget,
                    Path(folder),
                )
            )
        for result, best in results:
            report = validate(
                voices={"neutral": best},
                targets={"neutral": target},
                speak=judge.synthesize,
                out_dir=Path(folder) / "validation",
                phrases={"neutral": HELD_OUT},
            )
            result.held_out = report.styles["neutral"].checks["seed_speaker_similarity"].value

    print(
        f"\n{'contender':52s} {'steps':>6s} {'steps/s':>8s} {'synth/s':>8s} {'start':>7s} {'best':>7s} {'held-out sim':>13s}"
    )
    for result, _ in results:
        print(
            f"{result.label:52s} {result.steps:6d} {result.steps / result.seconds:8.3f} "
            f"{result.syntheses / result.seconds:8.3f} {result.start_score:7.2f} {result.best_score:7.2f} "
            f"{result.held_out:13.4f}"
        )
    (base, _), (ours, _) = results
    print(
        f"\npipeline / baseline: {ours.steps / ours.seconds / (base.steps / base.seconds):.2f}x the steps per second; "
        f"held-out similarity {ours.held_out:.4f} vs {base.held_out:.4f}"
    )


if __name__ == "__main__":
    main()
