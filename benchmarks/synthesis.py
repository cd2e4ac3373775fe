"""Synthesis speed and memory of each backend, on this machine, in one run.

    .venv/bin/python -m benchmarks.synthesis [--quick]

Prints three plain-text tables, all measured in the same run:

1. real-time factor (x RT = seconds of audio per second of compute) and load time of
   onnx and torch at 1 and 2 threads, on a ~3 s and a ~10 s Spanish sentence;
2. candidate voices per second for one text (the evolution loop's workload: the same
   text in many different voices) for plain torch, torch with the text-side cache,
   torch batched, one 2-thread onnx session and two 1-thread onnx processes;
3. the engine default for throughput on this CPU against plain single-process torch.

Every configuration runs in its own child process (this module with ``--child``), so
its peak RSS is its own; the child prints its result as one JSON line. Each child warms
up with one untimed call, then times a fixed amount of work with ``time.perf_counter``.
This is a measurement, not a test: nothing here asserts on a timing.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "data" / "models"
VOICE_NAMES = ("ef_dora", "em_alex", "em_santa")
RESULT_MARK = "BENCHMARK-RESULT "

TEXTS = {
    # ~3 s: a call-center greeting.
    "short": "Buenos días, gracias por llamar. ¿En qué puedo ayudarle?",
    # ~10 s, 30 words: a call-center confirmation.
    "long": (
        "Le confirmo que su pedido ya ha salido de nuestro almacén y llegará a su domicilio "
        "el jueves por la mañana; si necesita cambiar la dirección, llámenos antes del miércoles."
    ),
}
MUTATION = 0.05  # candidate = stock voice + N(0, 1) * MUTATION * per-element std of the stock voices
SEED = 0


# --- Children: one configuration each ------------------------------------------------------


def _peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def _proc_peak_rss_mb(pid: int) -> float | None:
    """VmHWM (peak RSS) of a live process, from /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _assets():
    from voicelab.engine.assets import require

    return require(MODELS, need_torch=True)


def _stock_voices(assets) -> list:
    from voicelab.engine.voices import load_voice

    return [load_voice(assets.voice_path(name)) for name in VOICE_NAMES]


def _candidates(stock: list, count: int, seed: int) -> list:
    """``count`` different voices around the stock ones, as the evolution loop mutates them."""
    import torch

    from voicelab.engine.voices import population_std

    std = population_std(stock)
    generator = torch.Generator().manual_seed(seed)
    return [
        stock[i % len(stock)] + torch.randn(stock[0].shape, generator=generator) * MUTATION * std for i in range(count)
    ]


def _child_rtf(spec: dict) -> dict:
    """Load time and x RT of one backend at one thread count, per text."""
    import torch  # noqa: F401 - imported before the load clock starts, as for every backend

    from voicelab.engine.g2p import phonemize
    from voicelab.engine.synthesis import SAMPLE_RATE, SynthesisConfig, TorchSynthesizer, create_synthesizer

    assets = _assets()
    voice = _stock_voices(assets)[0]
    config = SynthesisConfig(backend=spec["backend"], threads=spec["threads"])
    phonemes = {name: phonemize(TEXTS[name]) for name in spec["texts"]}

    start = time.perf_counter()
    synth = create_synthesizer(assets, config)
    load = time.perf_counter() - start

    def render(text: str):
        # One fresh request: the torch text-side cache is emptied so its cost is counted.
        if isinstance(synth, TorchSynthesizer):
            synth.clear_text_cache()
        return synth.render(phonemes[text], voice)

    start = time.perf_counter()
    render(spec["texts"][0])  # warm-up, untimed in the results
    first = time.perf_counter() - start

    texts = {}
    for name in spec["texts"]:
        times, audio = [], None
        for _ in range(spec["repeats"]):
            start = time.perf_counter()
            audio = render(name)
            times.append(time.perf_counter() - start)
        seconds = len(audio) / SAMPLE_RATE
        texts[name] = {"audio_s": seconds, "times": times, "rtf": seconds / min(times), "phonemes": len(phonemes[name])}
    return {"load_s": load, "first_s": first, "texts": texts, "peak_rss_mb": _peak_rss_mb()}


def _child_candidates(spec: dict) -> dict:
    """Candidate voices per second for one text, in one of the ways the engine can render them."""
    import torch

    from voicelab.engine.g2p import phonemize
    from voicelab.engine.synthesis import SAMPLE_RATE, SynthesisConfig, SynthesisPool, TorchSynthesizer

    assets = _assets()
    stock = _stock_voices(assets)
    phonemes = phonemize(TEXTS[spec["text"]])
    mode, count, batch = spec["mode"], spec["count"], spec.get("batch", 1)
    config = SynthesisConfig(backend=spec["backend"], threads=spec["threads"], processes=spec.get("processes", 1))
    warm = spec.get("warm", batch)
    voices = _candidates(stock, warm + count, SEED)
    warm_voices, timed_voices = voices[:warm], voices[warm:]
    workers: dict[str, float | None] = {}

    if mode == "pool":
        pool = SynthesisPool(assets, config)

        def run(group: list) -> int:
            return sum(map(len, pool.render_many([pool.job(phonemes, v) for v in group])))

        groups = [timed_voices]
    else:
        synth = TorchSynthesizer(assets, config)
        if mode == "plain":  # kokoro's own KModel.forward, no cache, one voice per call

            def run(group: list) -> int:
                return sum(len(synth.model(phonemes, synth.style_row(phonemes, v))) for v in group)

        elif mode == "cached":  # TorchSynthesizer.render: text side cached per text

            def run(group: list) -> int:
                return sum(len(synth.render(phonemes, v)) for v in group)

        else:  # batched: N voices per forward pass

            def run(group: list) -> int:
                return sum(map(len, synth.render_many(phonemes, group)))

        groups = [timed_voices[i : i + batch] for i in range(0, count, batch)] if mode == "batched" else [timed_voices]

    start = time.perf_counter()
    run(warm_voices)  # warm-up, untimed in the results (starts the pool's workers)
    first = time.perf_counter() - start
    start = time.perf_counter()
    samples = sum(run(group) for group in groups)
    elapsed = time.perf_counter() - start

    if mode == "pool":
        executor = pool._executor
        for pid in sorted(executor._processes) if executor is not None else ():
            workers[str(pid)] = _proc_peak_rss_mb(pid)
        pool.close()
    return {
        "first_s": first,
        "elapsed_s": elapsed,
        "count": count,
        "per_s": count / elapsed,
        "audio_s": samples / SAMPLE_RATE,
        "torch_threads": torch.get_num_threads(),
        "peak_rss_mb": _peak_rss_mb(),
        "workers_peak_rss_mb": workers,
        "children_max_rss_mb": _peak_rss_mb(resource.RUSAGE_CHILDREN),
    }


def _child(spec: dict) -> None:
    result = _child_rtf(spec) if spec["kind"] == "rtf" else _child_candidates(spec)
    print(RESULT_MARK + json.dumps(result), flush=True)


# --- Parent: runs the children one after the other and prints the tables -------------------


def _cpu_busy_s() -> tuple[float, float]:
    """Busy and steal CPU seconds of the whole machine so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, steal / tick


def _own_cpu_s() -> float:
    """CPU seconds of this process and of its waited-for descendants."""
    usages = map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return sum(usage.ru_utime + usage.ru_stime for usage in usages)


def _run_child(spec: dict) -> dict:
    busy, steal = _cpu_busy_s()
    own = _own_cpu_s()
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.synthesis", "--child", json.dumps(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if proc.returncode or not lines:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"benchmark child {spec} failed with exit status {proc.returncode}")
    result = json.loads(lines[-1][len(RESULT_MARK) :])
    result["child_wall_s"] = wall = time.perf_counter() - start
    busy_after, steal_after = _cpu_busy_s()
    # What other processes ran meanwhile: a quiet machine shows ~0 (in % of one core).
    result["others_pct"] = 100 * max(0.0, (busy_after - busy) - (_own_cpu_s() - own)) / wall
    result["steal_pct"] = 100 * (steal_after - steal) / wall
    return result


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _machine() -> list[str]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), platform.processor())
    memory = next((int(line.split()[1]) / 1024**2 for line in meminfo if line.startswith("MemTotal")), 0.0)
    threads_env = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ}
    kokoro_env = {k: v for k, v in os.environ.items() if k.startswith("KOKORO_")}
    return [
        f"machine : {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs ({model}), "
        f"{len(os.sched_getaffinity(0))} usable, {memory:.1f} GiB RAM",
        f"software: Python {platform.python_version()}, torch {_version('torch')}, "
        f"onnxruntime {_version('onnxruntime')}, kokoro {_version('kokoro')}, kokoro-onnx {_version('kokoro-onnx')}",
        f"env     : {threads_env or 'no OMP/MKL thread variables'}; {kokoro_env or 'no KOKORO_* overrides'}",
    ]


def _table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        cells = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    return [line(header), line(["-" * w for w in widths]), *map(line, rows)]


def _idle_check(seconds: float = 2.0) -> float:
    """How busy the machine is with nothing of ours running, in % of one core."""
    before = _cpu_busy_s()[0]
    time.sleep(seconds)
    return 100 * (_cpu_busy_s()[0] - before) / seconds


def _others(result: dict) -> str:
    steal = f", steal {result['steal_pct']:.0f}" if result["steal_pct"] >= 1 else ""
    return f"{result['others_pct']:.0f}{steal}"


def _say(*lines: str) -> None:
    print(*lines, sep="\n", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.synthesis", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and candidates; no 10 s torch 1-thread")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(json.loads(args.child))
        return

    wall = time.perf_counter()
    quick = args.quick
    cores = os.cpu_count() or 1
    repeats = 1 if quick else 3
    onnx_count = 8 if quick else 24
    torch_count = 4 if quick else 16

    _say(
        f"Voice Lab synthesis benchmark ({'quick' if quick else 'full'} mode), {time.strftime('%Y-%m-%d %H:%M:%S')}",
        *_machine(),
        f"load average (1/5/15 min) at start: {_load()}; CPU busy in the 2 s before: {_idle_check():.0f}% of one core",
        "",
    )

    # 1. Real-time factor and load time.
    rtf_specs = [
        ("onnx", 1, ["short", "long"]),
        ("onnx", 2, ["short", "long"]),
        ("torch", 1, ["short"] if quick else ["short", "long"]),
        ("torch", 2, ["short", "long"]),
    ]
    _say(
        f"1. Real-time factor (x RT = seconds of audio / seconds of compute; min of {repeats} after one warm-up;",
        "   Synthesizer.render of the phonemes, the torch text-side cache emptied before each call)",
    )
    rtf = {}
    for backend, threads, texts in rtf_specs:
        rtf[backend, threads] = _run_child(
            {"kind": "rtf", "backend": backend, "threads": threads, "texts": texts, "repeats": repeats}
        )
    audio = {}
    for result in rtf.values():
        for name, text in result["texts"].items():
            audio.setdefault(name, (text["audio_s"], text["phonemes"]))
    for name, (seconds, count) in audio.items():
        words = len(TEXTS[name].split())
        _say(f"   {name:5} ({seconds:4.1f} s of audio, {count} phonemes, {words} words): {TEXTS[name]!r}")

    def rtf_cell(result: dict, name: str) -> str:
        text = result["texts"].get(name)
        return f"{text['rtf']:.2f}x ({text['audio_s']:.1f} s / {min(text['times']):.2f} s)" if text else "skipped"

    rows = [
        [
            backend,
            str(threads),
            f"{result['load_s']:.1f}",
            f"{result['first_s']:.2f}",
            rtf_cell(result, "short"),
            rtf_cell(result, "long"),
            f"{result['peak_rss_mb']:.0f}",
            _others(result),
        ]
        for (backend, threads), result in rtf.items()
    ]
    header = ["backend", "threads", "load s", "warm-up s", "~3 s sentence", "~10 s sentence", "peak RSS MB", "others %"]
    _say("", *("   " + line for line in _table(header, rows, {1, 2, 3, 4, 5, 6, 7})), "")

    # 2. Candidate voices per second for one text.
    torch_threads = cores  # single-process torch on all cores: its fastest setting here (table 1)
    torch_spec = {"backend": "torch", "threads": torch_threads, "count": torch_count}
    candidate_specs = [
        ("plain", f"plain torch, {torch_threads} threads (KModel.forward, no cache)", {**torch_spec, "mode": "plain"}),
        ("cached", f"torch + text-side cache, {torch_threads} threads (render)", {**torch_spec, "mode": "cached"}),
        *(
            (
                f"batch{n}",
                f"torch batched N={n}, {torch_threads} threads (render_many)",
                {**torch_spec, "mode": "batched", "batch": n, "count": max(torch_count, n), "warm": 1 if quick else n},
            )
            for n in (1, 4, 8)
        ),
        (
            "onnx_threads",
            f"onnx, one {cores}-thread session (SynthesisPool {cores}t x 1p)",
            {"mode": "pool", "backend": "onnx", "threads": cores, "processes": 1, "count": onnx_count, "warm": 1},
        ),
        (
            "onnx_processes",
            f"onnx, {cores} 1-thread processes (SynthesisPool 1t x {cores}p)",
            {"mode": "pool", "backend": "onnx", "threads": 1, "processes": cores, "count": onnx_count, "warm": cores},
        ),
    ]
    _say(
        "2. Candidate voices per second, one text (the ~3 s sentence), each candidate a different voice",
        f"   (stock voice + randn * {MUTATION} * per-element std of the 3 stock voices; one untimed warm-up call",
        "   of the row's own kind, then the counted renders; x RT from the candidates' own audio lengths)",
    )
    candidates = {}
    for key, _label, spec in candidate_specs:
        candidates[key] = _run_child({"kind": "candidates", "text": "short", **spec})

    from voicelab.engine.synthesis import SynthesisConfig

    default = SynthesisConfig.for_device(throughput=True)
    labels = {key: label for key, label, _spec in candidate_specs}
    specs = {key: spec for key, _label, spec in candidate_specs}
    default_key = next(
        (
            key
            for key, spec in specs.items()
            if spec["mode"] == "pool"
            and (default.backend, default.device, default.threads, default.processes)
            == (spec["backend"], "cpu", spec["threads"], spec.get("processes", 1))
        ),
        None,
    )
    if default_key is None:  # not one of the rows above: measure it as well
        default_key = "default"
        labels[default_key] = f"engine default {default}"
        specs[default_key] = {
            "mode": "pool",
            "backend": default.backend,
            "threads": default.threads,
            "processes": default.processes,
            "count": onnx_count if default.backend == "onnx" else torch_count,
            "warm": default.processes,
        }
        candidates[default_key] = _run_child({"kind": "candidates", "text": "short", **specs[default_key]})

    plain = candidates["plain"]["per_s"]
    rows = []
    for key, result in candidates.items():
        workers = [mb for mb in result["workers_peak_rss_mb"].values() if mb is not None]
        memory = f"{result['peak_rss_mb'] + sum(workers):.0f}"
        if workers:
            each = " + ".join(f"{mb:.0f}" for mb in workers)
            memory += f" (parent {result['peak_rss_mb']:.0f} + workers {each};"
            memory += f" RUSAGE_CHILDREN max {result['children_max_rss_mb']:.0f})"
        rows.append(
            [
                labels[key] + (" <- engine default" if key == default_key else ""),
                str(result["count"]),
                f"{result['elapsed_s']:.1f}",
                f"{result['per_s']:.3f}",
                f"{result['audio_s'] / result['elapsed_s']:.2f}x",
                f"{result['per_s'] / plain:.2f}x",
                _others(result),
                memory,
            ]
        )
    header = ["configuration", "renders", "time s", "cand/s", "x RT", "vs plain", "others %", "peak RSS MB"]
    _say("", *("   " + line for line in _table(header, rows, {1, 2, 3, 4, 5, 6})), "")
    _say(
        "   others % = CPU used by other processes while the row's child ran, in % of one core (0 = quiet);",
        "   peak RSS = ru_maxrss of the child (python + torch + the backend), plus each pool worker's VmHWM.",
        "",
    )

    best = candidates[default_key]["per_s"]
    _say(
        f"load average (1/5/15 min) at end: {_load()}; wall time {time.perf_counter() - wall:.0f} s",
        f"engine default on this CPU (SynthesisConfig.for_device(throughput=True) = {default.backend}, "
        f"{default.threads} thread(s) x {default.processes} process(es)) = {best:.3f} candidates/s = "
        f"{best / plain:.2f} x plain single-process torch ({plain:.3f} candidates/s, {torch_threads} threads)",
    )


if __name__ == "__main__":
    main()
