"""The lab's real processes for end-to-end tests: a Celery worker and the ASGI server.

Each process logs to its own file; when one dies or never gets ready, the error
carries the end of that log so the failure explains itself.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[2]

T = TypeVar("T")


class NotReady(AssertionError):
    """Something the test waited for did not happen in time."""


def wait_until(condition: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.1) -> T:
    """Call ``condition`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise NotReady(f"Waited {timeout:.0f} s for {what}.")
        time.sleep(interval)


@dataclass
class LabProcess:
    """A started subprocess of the lab and the file it logs to."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def assert_alive(self) -> None:
        code = self.popen.poll()
        if code is not None:
            raise NotReady(f"The {self.name} process exited with status {code}. Its log ends with:\n{self.tail()}")

    def wait_ready(self, probe: Callable[[], bool], *, timeout: float) -> None:
        def ready() -> bool:
            self.assert_alive()
            return probe()

        try:
            wait_until(ready, timeout=timeout, what=f"the {self.name} process to get ready", interval=0.2)
        except NotReady as exc:
            raise NotReady(f"{exc} Its log ends with:\n{self.tail()}") from None

    def stop(self, timeout: float = 15) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=timeout)


def start(name: str, arguments: list[str], *, env: Mapping[str, str], log_dir: Path) -> LabProcess:
    """Start ``python <arguments>`` in the repository root, logging to ``log_dir/<name>.log``."""
    log = log_dir / f"{name}.log"
    with log.open("wb") as output:
        popen = subprocess.Popen(
            [sys.executable, *arguments], cwd=ROOT, env=dict(env), stdout=output, stderr=subprocess.STDOUT
        )
    return LabProcess(name=name, popen=popen, log=log)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False
