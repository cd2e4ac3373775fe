"""The run command keeps the lab up: each process killed with SIGKILL comes back on its own,
nothing stored is lost, and Ctrl-C stops every process."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from django.conf import settings

from voicelab import supervision
from voicelab.embedded_redis import HOST, free_port

from . import processes
from .processes import LabProcess, wait_until

pytestmark = pytest.mark.worker

BACK_WITHIN = 30.0  # seconds from the kill until supervisord runs the process again
READY_WITHIN = 240.0  # generous: a loaded 2-core machine starts a worker slowly


@dataclass
class Lab:
    process: LabProcess
    data_dir: Path
    url: str
    tts_url: str
    redis_url: str

    @property
    def config(self) -> Path:
        return self.data_dir / "run" / "supervisord.conf"

    def ctl(self, *arguments: str) -> str:
        result = subprocess.run(supervision.supervisorctl_argv(self.config, *arguments), capture_output=True, text=True)
        return result.stdout.strip()

    def pid(self, name: str) -> int:
        return int(self.ctl("pid", name) or 0)

    def running(self, name: str) -> bool:
        return " RUNNING " in f" {self.ctl('status', name)} "

    def log(self, name: str) -> str:
        path = self.data_dir / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def ready(self, name: str, *, after: int = 0) -> bool:
        """Whether ``name`` answers (servers) or has said it is ready ``after`` times before (workers)."""
        if name == "web":
            return processes.http_ok(f"{self.url}/accounts/login/")
        if name == "tts":
            return processes.http_ok(f"{self.tts_url}/health")
        if name == "redis":
            try:
                return bool(redis.Redis.from_url(self.redis_url, socket_timeout=2).ping())
            except redis.RedisError:
                return False
        marker = "beat: Starting" if name == "beat" else " ready."
        return self.log(name).count(marker) > after


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """``manage.py runlab`` on a data folder, ports and embedded Redis of its own."""
    data_dir = tmp_path_factory.mktemp("runlab")
    port, tts_port, redis_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_URL", "DATABASE_URL", "DJANGO_"))}
    env.update(
        {
            "VOICELAB_DATA_DIR": str(data_dir),
            "VOICELAB_MODELS_DIR": str(settings.VOICELAB_MODELS_DIR),
            "VOICELAB_MEDIA_ROOT": str(data_dir / "media"),
            "VOICELAB_ENV_FILE": str(data_dir / ".env"),
            "VOICELAB_PORT": str(port),
            "VOICELAB_TTS_PORT": str(tts_port),
            "VOICELAB_REDIS_PORT": str(redis_port),
            "VOICELAB_WORKER_CONCURRENCY": "1",
            "KOKORO_THREADS": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    log_dir = tmp_path_factory.mktemp("runlab-console")
    process = processes.start("runlab", ["manage.py", "runlab"], env=env, log_dir=log_dir)
    lab = Lab(process, data_dir, f"http://{HOST}:{port}", f"http://{HOST}:{tts_port}", f"redis://{HOST}:{redis_port}/0")
    try:
        for name in ("redis", "web", "tts", "worker", "distiller", "beat"):
            process.wait_ready(lambda name=name: lab.ready(name), timeout=READY_WITHIN)
        yield lab
    finally:
        if process.popen.poll() is None:
            process.popen.send_signal(signal.SIGINT)
            process.popen.wait(timeout=120)


@pytest.mark.timeout(1500)
@pytest.mark.parametrize("name", ["redis", "web", "tts", "worker", "distiller", "beat"])
def test_a_killed_process_comes_back_and_the_lab_stays_up(lab: Lab, name: str) -> None:
    others = [other for other in ("web", "tts", "redis") if other != name]
    broker = redis.Redis.from_url(lab.redis_url)
    broker.set("voicelab-test:kept", name)  # in the append-only file before Redis answers, as a queued task
    before, said_ready = lab.pid(name), lab.log(name).count(" ready.")
    assert before and lab.running(name)

    killed = time.monotonic()
    os.kill(before, signal.SIGKILL)

    wait_until(
        lambda: lab.pid(name) not in (0, before) and lab.running(name),
        timeout=BACK_WITHIN,
        what=f"supervisord to run {name} again",
    )
    back = time.monotonic() - killed
    lab.process.wait_ready(lambda: lab.ready(name, after=said_ready), timeout=READY_WITHIN)
    print(f"{name}: running again {back:.1f} s after SIGKILL, ready after {time.monotonic() - killed:.1f} s")
    assert all(lab.ready(other) for other in others), "the other processes stayed up"
    assert lab.process.popen.poll() is None, "the lab itself stayed up"
    assert broker.get("voicelab-test:kept") == name.encode(), "nothing in Redis was lost"
    with sqlite3.connect(lab.data_dir / "voicelab.sqlite3") as database:
        assert database.execute("select count(*) from labeling_sentence").fetchone()[0] == 77


def test_ctrl_c_stops_every_process(lab: Lab) -> None:
    pids = [lab.pid(name) for name in ("redis", "web", "tts", "worker", "distiller", "beat")]
    assert all(pids)
    lab.process.popen.send_signal(signal.SIGINT)
    assert lab.process.popen.wait(timeout=120) == 0
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid), f"process {pid} still runs"


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_a_process_that_keeps_dying_is_given_up_on_with_the_reason(tmp_path: Path) -> None:
    """supervisord's own behaviour under the lab's configuration: five quick deaths and it
    stops trying, and the event listener prints the end of the process's log."""
    crashing = supervision.LabProcess(
        "crasher", [sys.executable, "-c", "import sys; print('no database here'); sys.exit(3)"]
    )
    config = supervision.write_config(
        tmp_path / "run" / "supervisord.conf", [crashing], data_dir=tmp_path, directory=processes.ROOT
    )
    with (tmp_path / "console.log").open("wb") as console:
        supervisord = subprocess.Popen(supervision.supervisord_argv(config), stdout=console, stderr=subprocess.STDOUT)
    try:
        lab = Lab(LabProcess("supervisord", supervisord, tmp_path / "console.log"), tmp_path, "", "", "")
        wait_until(lambda: "FATAL" in lab.ctl("status", "crasher"), timeout=120, what="supervisord to give up")

        def console_text() -> str:
            return (tmp_path / "console.log").read_text(errors="replace")

        wait_until(lambda: "gave up on “crasher”" in console_text(), timeout=30, what="the reason in the console")
        assert "no database here" in console_text()
    finally:
        supervisord.send_signal(signal.SIGINT)
        supervisord.wait(timeout=60)
