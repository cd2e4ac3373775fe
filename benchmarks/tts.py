"""The TTS service under the load a call center puts on it, measured in one run.

    .venv/bin/python -m benchmarks.tts [--seconds 60] [--clients 20]

Starts ``manage.py runtts`` on a free port (its defaults: one single-thread worker process per
core on a CPU), then prints two tables, streamed and whole side by side:

1. per format and text (1 and 3 Spanish sentences): time to first audio (the first body byte),
   total time and real-time factor (seconds of audio per second of wall time), median of 3;
2. ``--clients`` callers speaking one-sentence and three-sentence texts back to back for
   ``--seconds``: requests answered, p50/p95 latency, p50/p95 time to first audio, 503s (a full
   queue, counted apart), other errors, and the service's peak memory (its processes' VmHWM);
3. the whole WAV alone and with its word timings (``/v1/audio/captioned_speech``), side by side.

This is a measurement, not a test: nothing here asserts on a timing.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from voicelab.embedded_redis import HOST, free_port
from voicelab.engine.tts_keys import new_key

ROOT = Path(__file__).resolve().parents[1]
TEXTS = {
    "1 sentence": "Buenos días, le llamo del servicio técnico para confirmar su cita de mañana.",
    "3 sentences": (
        "Buenos días, le llamo del servicio técnico para confirmar su cita de mañana. "
        "El técnico llegará entre las nueve y las doce, y le avisará media hora antes. "
        "Si ese horario no le viene bien, podemos cambiarlo ahora mismo sin ningún coste."
    ),
}
FORMATS = ("pcm", "mp3", "opus", "wav", "flac")
BYTES_PER_SECOND = 48_000  # pcm: 24 kHz, 16 bit


@dataclass
class Timing:
    first: float  # seconds to the first body byte
    total: float
    status: int
    audio_seconds: float = 0.0


def speak(client: httpx.Client, url: str, text: str, audio_format: str, *, stream: bool) -> Timing:
    body = {"model": "kokoro", "input": text, "voice": "neutral", "response_format": audio_format, "stream": stream}
    started = time.perf_counter()
    first, size = None, 0
    with client.stream("POST", f"{url}/v1/audio/speech", json=body) as response:
        for chunk in response.iter_bytes():
            first = first if first is not None else time.perf_counter() - started
            size += len(chunk)
    total = time.perf_counter() - started
    audio = size / BYTES_PER_SECOND if audio_format == "pcm" else 0.0
    return Timing(first if first is not None else total, total, response.status_code, audio)


def formats_table(client: httpx.Client, url: str) -> None:
    print("\n1. One caller at a time (median of 3)\n")
    print(f"{'text':<12} {'format':<6} {'mode':<7} {'first audio s':>13} {'total s':>8} {'RTF':>6}")
    for label, text in TEXTS.items():
        speak(client, url, text, "pcm", stream=False)  # warm the text's phonemes and the workers
        seconds = speak(client, url, text, "pcm", stream=False).audio_seconds
        for audio_format in FORMATS:
            for stream in (True, False):
                runs = [speak(client, url, text, audio_format, stream=stream) for _ in range(3)]
                first = statistics.median(r.first for r in runs)
                total = statistics.median(r.total for r in runs)
                mode = "stream" if stream else "whole"
                print(f"{label:<12} {audio_format:<6} {mode:<7} {first:>13.2f} {total:>8.2f} {seconds / total:>6.2f}")


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)
    firsts: list[float] = field(default_factory=list)
    busy: int = 0
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def captioned(client: httpx.Client, url: str, text: str) -> float:
    """Seconds for the whole WAV with its word timings (``/v1/audio/captioned_speech``)."""
    started = time.perf_counter()
    response = client.post(f"{url}/v1/audio/captioned_speech", json={"input": text, "response_format": "wav"})
    response.raise_for_status()
    return time.perf_counter() - started


def timings_table(client: httpx.Client, url: str) -> None:
    print("\n3. Word timings: the whole WAV alone and with its timings (median of 3)\n")
    cold = captioned(client, url, TEXTS["1 sentence"])  # a worker loads the duration predictor
    print(f"first captioned request (loads the PyTorch predictor in a worker): {cold:.2f} s")
    print(f"{'text':<12} {'wav s':>7} {'captioned s':>12} {'ratio':>6}")
    for label, text in TEXTS.items():
        for _ in range(2):  # every worker has its predictor before the timing
            captioned(client, url, text)
        whole = statistics.median(speak(client, url, text, "wav", stream=False).total for _ in range(3))
        timed = statistics.median(captioned(client, url, text) for _ in range(3))
        print(f"{label:<12} {whole:>7.2f} {timed:>12.2f} {timed / whole:>6.2f}")


def caller(url: str, key: str, index: int, until: float, load: Load, *, stream: bool) -> None:
    texts = list(TEXTS.values())
    with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
        turn = index
        while time.monotonic() < until:
            try:
                timing = speak(client, url, texts[turn % 2], "pcm" if stream else "wav", stream=stream)
            except httpx.HTTPError:
                timing = Timing(0, 0, 0)
            turn += 1
            with load.lock:
                if timing.status == 200:
                    load.latencies.append(timing.total)
                    load.firsts.append(timing.first)
                elif timing.status == 503:
                    load.busy += 1
                    time.sleep(1)  # what Retry-After asks
                else:
                    load.errors += 1


def percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=100)[round(share * 100) - 1] if len(values) > 1 else float("nan")


def load_table(url: str, key: str, pid: int, *, clients: int, seconds: float) -> None:
    print(f"\n2. {clients} callers for {seconds:g} s each way (pcm streamed, wav whole)\n")
    print(
        f"{'mode':<7} {'answered':>8} {'p50 s':>6} {'p95 s':>6} {'first p50':>9} {'first p95':>9} {'503s':>5} {'errors':>6}"
    )
    for stream in (True, False):
        load = Load()
        until = time.monotonic() + seconds
        threads = [
            threading.Thread(target=caller, args=(url, key, i, until, load), kwargs={"stream": stream})
            for i in range(clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        mode = "stream" if stream else "whole"
        print(
            f"{mode:<7} {len(load.latencies):>8} {percentile(load.latencies, 0.5):>6.2f} "
            f"{percentile(load.latencies, 0.95):>6.2f} {percentile(load.firsts, 0.5):>9.2f} "
            f"{percentile(load.firsts, 0.95):>9.2f} {load.busy:>5} {load.errors:>6}"
        )
    print(f"\npeak memory of the service (its processes' VmHWM summed): {peak_mib(pid):.0f} MiB")


def peak_mib(pid: int) -> float:
    """VmHWM of ``pid`` and every process below it, in MiB (Linux /proc)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
        todo += [int(child) for child in children]
    return total / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args()
    key, port = new_key(), free_port()
    url = f"http://{HOST}:{port}"
    with tempfile.TemporaryDirectory() as scratch:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "voicelab.settings",
            "VOICELAB_TTS_API_KEY": key,
            "VOICELAB_TTS_KEYS_FILE": str(Path(scratch) / "keys.json"),
            "VOICELAB_ENV_FILE": str(Path(scratch) / ".env"),
        }
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runtts", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    health = httpx.get(f"{url}/health", timeout=2).json()
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("runtts did not start: run `make setup` first.") from None
                    time.sleep(0.5)
            print(
                f"TTS benchmark, {time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, "
                f"{os.cpu_count()} cores: {health['backend']} on {health['device']}, "
                f"{health['queue']['workers']} worker(s), {health['queue']['max_waiting']} may wait"
            )
            with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
                formats_table(client, url)
            load_table(url, key, server.pid, clients=args.clients, seconds=args.seconds)
            with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
                timings_table(client, url)
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
