"""Voice search side by side: walk, gradient and hybrid at equal compute, judged on held-out phrases.

Targets:

- ``santa``: em_santa (a stock voice, rendered), searched from the stock voices without it and
  its twins (am_santa, pm_santa), so the answer is known and cannot simply be looked up;
- ``en``, ``zh``: the two real human recordings inside the ``f5-tts`` 1.1.22 wheel
  (``basic_ref_en.wav``, ``basic_ref_zh.wav``), fetched with ``pip download --no-deps`` at run
  time into a temporary folder (never kept, never committed), each used as a clip target.

Compute is counted in forward-equivalents (FE): one Kokoro forward of a short phrase; a gradient
training phrase counts 2 (its forward and backward). The start (the stock voices nearest to the
target, then the best of a dozen blends) is the same for all three and is counted apart; each
search then stops once it has spent ``--budget`` FE. Every voice is judged on three held-out
phrases (never trained, selected or scored on) by CAM++, resemblyzer and DistillMOS, and each row
says which judges its search optimized: such a judge's figure is not an independent one.

    python -m benchmarks.quality [--budget 100] [--targets santa en zh]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import torch

from benchmarks.pipeline import HELD_OUT, REFERENCE

F5_WHEEL = "f5-tts==1.1.22"
CLIPS = {"en": "f5_tts/infer/examples/basic/basic_ref_en.wav", "zh": "f5_tts/infer/examples/basic/basic_ref_zh.wav"}
SANTA = ("am_santa", "em_santa", "pm_santa")
SEED = 7
GRADIENT_STEP_FE = 4.3  # two training phrases (2 FE each) and a selection every third step


@dataclass
class Row:
    target: str
    method: str
    fe: float
    seconds: float
    campp: float
    resemblyzer: float
    mos: float
    optimized: str


class Meter:
    """Counts the FE a search spends, from its last phase (the start) on."""

    def __init__(self) -> None:
        self.count, self.mark = 0.0, 0.0

    def wrap(self, function: Callable, cost: Callable[..., float]) -> Callable:
        def counted(*args: object, **kwargs: object) -> object:
            self.count += cost(*args, **kwargs)
            return function(*args, **kwargs)

        return counted

    @property
    def spent(self) -> float:
        return self.count - self.mark


def fetch_clips(folder: Path) -> dict[str, Path]:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(folder), F5_WHEEL], check=True
    )
    wheel = next(folder.glob("f5_tts-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        for member in CLIPS.values():
            archive.extract(member, folder)
    return {name: folder / member for name, member in CLIPS.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=100.0, help="FE each search may spend after its start.")
    parser.add_argument("--targets", nargs="+", default=["santa", "en", "zh"], choices=["santa", "en", "zh"])
    options = parser.parse_args()

    from voicelab.engine.assets import require
    from voicelab.engine.config import PipelineConfig
    from voicelab.engine.judges import campp_embedding, naturalness
    from voicelab.engine.pipeline import OPTIMIZED_AGAINST, Evolution, load_target
    from voicelab.engine.reference import Reference as Ref
    from voicelab.engine.reference import clip_reference, normalize_loudness, write_reference
    from voicelab.engine.scoring import cosine, speaker_embedding
    from voicelab.engine.stock import StockIndex, stock_voices
    from voicelab.engine.synthesis import OnnxSynthesizer, SynthesisConfig, SynthesisPool
    from voicelab.engine.voices import load_voice

    assets = require(Path("data/models"), need_torch=True)
    judge_voice = OnnxSynthesizer(assets, SynthesisConfig(threads=2))
    index = StockIndex.load(assets.root / "stock_index.npz")
    every = tuple(stock_voices(assets))
    rows: list[Row] = []

    def judged(target: str, method: str, voice: torch.Tensor, reference, fe: float, seconds: float, optimized: str):
        renderings = [judge_voice.synthesize(text, voice) for text in HELD_OUT]
        row = Row(
            target,
            method,
            fe,
            seconds,
            float(np.mean([cosine(campp_embedding(a, 24_000), reference.campp) for a in renderings])),
            float(np.mean([cosine(speaker_embedding(a, 24_000), reference.embedding) for a in renderings])),
            float(np.mean([naturalness(a, 24_000) for a in renderings])),
            optimized,
        )
        rows.append(row)
        print(f"  {row.method:34s} {row.fe:6.0f} FE {row.seconds:6.0f} s  CAM++ {row.campp:.3f}  "
              f"resemblyzer {row.resemblyzer:.3f}  DistillMOS {row.mos:.2f}", flush=True)  # fmt: skip
        return row

    with TemporaryDirectory() as folder:
        folder = Path(folder)
        clips = fetch_clips(folder / "f5") if {"en", "zh"} & set(options.targets) else {}
        with SynthesisPool(assets, SynthesisConfig.for_device(throughput=True)) as pool:
            for name in options.targets:
                root = folder / name
                if name == "santa":
                    audio = judge_voice.synthesize(REFERENCE, load_voice(assets.voice_path("em_santa")))
                    reference = Ref(normalize_loudness(audio), ())
                    among = tuple(voice for voice in every if voice not in SANTA)
                else:
                    from voicelab.engine.audio import read_audio

                    clip = read_audio(clips[name])
                    reference, among = clip_reference(clip.samples, clip.sample_rate), ()
                base = PipelineConfig.from_env(root=root, environ={}, styles=("neutral",), seed=SEED, base_voices=among)
                write_reference(reference, base.paths.reference_audio("neutral"))
                target = load_target(base, "neutral")
                print(f"\ntarget {name} ({len(reference.audio) / 24_000:.1f} s), budget {options.budget:.0f} FE")
                if name == "santa":
                    judged(name, "em_santa itself (the answer)", load_voice(assets.voice_path("em_santa")),
                           target, 0, 0, "-")  # fmt: skip
                similarity = {v: c for v, (_, c) in index.similarities(target.embedding, target.campp).items()}
                nearest = max((v for v in (among or every)), key=similarity.get)
                judged(name, f"best stock voice by CAM++ ({nearest})", load_voice(assets.voice_path(nearest)),
                       target, 0, 0, "CAM++ (choice)")  # fmt: skip
                for method in ("walk", "gradient", "hybrid"):
                    meter = Meter()
                    steps = 10**6
                    gradient_steps = max(1, round(options.budget / 2 / GRADIENT_STEP_FE))
                    config = PipelineConfig.from_env(
                        root=root / method, environ={}, styles=("neutral",), seed=SEED, base_voices=among,
                        optimizer=method, steps=steps, gradient_steps=gradient_steps,
                    )  # fmt: skip
                    write_reference(reference, config.paths.reference_audio("neutral"))
                    evolution = Evolution(config, assets, pool)
                    pool.synthesize_many = meter.wrap(SynthesisPool.synthesize_many.__get__(pool),
                                                      lambda text, voices, **_: len(voices))  # fmt: skip
                    trainer = evolution.trainer
                    trainer.forward = meter.wrap(type(trainer).forward.__get__(trainer), lambda *a, **k: 2.0)
                    started = time.perf_counter()

                    def phase(event, meter=meter) -> None:
                        if event.done == event.total:
                            meter.mark = meter.count

                    state = evolution.run(
                        "neutral", on_phase=phase, should_stop=lambda meter=meter: meter.spent >= options.budget
                    )
                    seconds = time.perf_counter() - started
                    if method == "walk":
                        judged(
                            name, f"start ({state.origin})", state.start, target, 0, 0, "resemblyzer + CAM++ (choice)"
                        )
                    judged(name, f"{method} ({state.step} steps)", state.best, target, meter.spent, seconds,
                           " + ".join(OPTIMIZED_AGAINST[method]))  # fmt: skip
                    del pool.synthesize_many

    print(
        f"\n{'target':6s} | {'voice':40s} | {'FE':>4s} | {'wall s':>6s} | CAM++ | resemblyzer | DistillMOS | optimized against"
    )
    print(f"{'-' * 6}-|-{'-' * 40}-|-----:|-------:|------:|------------:|-----------:|---")
    for row in rows:
        print(f"{row.target:6s} | {row.method:40s} | {row.fe:4.0f} | {row.seconds:6.0f} | {row.campp:.3f} | "
              f"{row.resemblyzer:11.3f} | {row.mos:10.2f} | {row.optimized}")  # fmt: skip
    print()
    for name in options.targets:
        mine = [row for row in rows if row.target == name and row.method.split()[0] in ("walk", "gradient", "hybrid")]
        best = max(mine, key=lambda row: row.campp)
        if name == "santa":
            met = best.campp >= 0.85 and best.mos >= 3.6
            print(f"aim (a) {name}: CAM++ >= 0.85 with DistillMOS >= 3.6 within {options.budget:.0f} FE: "
                  f"{'met' if met else 'NOT met'} by {best.method} ({best.campp:.3f}, {best.mos:.2f})")  # fmt: skip
        else:
            stock = next(row for row in rows if row.target == name and row.method.startswith("best stock"))
            met = best.campp >= stock.campp + 0.05 and best.mos >= 3.5
            print(f"aim (b) {name}: +0.05 CAM++ over the best stock voice ({stock.campp:.3f}) with DistillMOS >= 3.5: "
                  f"{'met' if met else 'NOT met'} by {best.method} ({best.campp:.3f}, +{best.campp - stock.campp:.3f}, "
                  f"{best.mos:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
