"""The lab's processes and the supervisord configuration that keeps them up.

``manage.py runlab`` writes the configuration and hands over to supervisord: a process
that dies is started again on its own (with supervisord's growing delay between tries),
one that keeps dying within seconds of its start is given up on with the reason in the
console, and Ctrl-C stops every process. ``supervisorctl`` (see the README) restarts or
stops one process alone. The end-to-end tests start the web server from the same
definitions, so they run what the lab runs.
"""

from __future__ import annotations

import configparser
import getpass
import os
import secrets
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from voicelab import embedded_redis

# A process must stay up this long for its start to count; this many quick deaths in a row
# and supervisord gives up on it (waiting 1 s, 2 s, 3 s... between tries).
START_SECONDS = 5
START_RETRIES = 5
LOG_BYTES = "10MB"
LOG_BACKUPS = 3


@dataclass(frozen=True)
class LabProcess:
    """One program of the lab: its name, command line and how long it may take to stop."""

    name: str
    argv: list[str]
    stop_seconds: int = 20  # a worker finishes its task, a server its requests
    priority: int = 20  # lower starts first and stops last


def web_argv(*, host: str, port: int) -> list[str]:
    """The ASGI server: uvicorn, which reads a request body only as the application asks for
    it, so the lab can refuse an oversized body before it arrives (``voicelab.body_limit``)."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "voicelab.asgi:application",
        "--host",
        host,
        "--port",
        str(port),
        "--lifespan",
        "off",
        "--ws",
        "websockets-sansio",
        "--timeout-graceful-shutdown",
        "15",
        "--no-server-header",
    ]


def celery_argv(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "voicelab", *arguments]


# The lab's workers talk to each other through nothing but the queues and the database (leases,
# not worker events), so they keep no gossip, no start-up mingle and no heartbeat: a solo worker
# busy in a walk cannot answer those, and the others logged it as "missed heartbeat" and "clock
# drift" for as long as the walk lasted.
QUIET_WORKER = ("--without-heartbeat", "--without-gossip", "--without-mingle")


def lab_processes(
    *, host: str, port: int, concurrency: int, data_dir: Path, redis_port: int | None, tts_port: int | None
) -> list[LabProcess]:
    """Every process of a lab on one machine; Redis only when it is the embedded one,
    the TTS service only when its models are there."""
    run_dir = data_dir / "run"
    processes = []
    if redis_port is not None:
        redis = embedded_redis.server_command(port=redis_port, data_dir=data_dir / "redis")
        processes.append(LabProcess("redis", redis, stop_seconds=10, priority=10))
    processes += [
        LabProcess("web", web_argv(host=host, port=port)),
        LabProcess(
            "worker",
            celery_argv(
                "worker",
                "--loglevel",
                "INFO",
                "--hostname",
                "labeling@%h",
                "--concurrency",
                str(concurrency),
                "--queues",
                "celery",
                *QUIET_WORKER,
            ),
        ),
        # One walk at a time, in the worker's own process: a walk already spreads its candidates
        # over every core (SynthesisPool), and a solo worker that dies takes its walk with it, to
        # be resumed from the checkpoint when it starts again.
        LabProcess(
            "distiller",
            celery_argv(
                "worker",
                "--loglevel",
                "INFO",
                "--hostname",
                "distillation@%h",
                "--pool",
                "solo",
                "--queues",
                "distillation",
                *QUIET_WORKER,
            ),
            stop_seconds=60,
        ),
        # The periodic sweeps (pending takes, orphaned walks): one beat for the whole lab.
        LabProcess(
            "beat", celery_argv("beat", "--loglevel", "INFO", "--schedule", str(run_dir / "celerybeat-schedule"))
        ),
    ]
    if tts_port is not None:
        processes.append(LabProcess("tts", [sys.executable, "manage.py", "runtts", "--port", str(tts_port)]))
    return processes


def socket_path(data_dir: Path) -> Path:
    return data_dir / "run" / "supervisor.sock"


def write_config(path: Path, processes: list[LabProcess], *, data_dir: Path, directory: Path) -> Path:
    """Write the supervisord configuration for ``processes`` to ``path``."""
    logs, run = data_dir / "logs", data_dir / "run"
    logs.mkdir(parents=True, exist_ok=True)
    run.mkdir(parents=True, exist_ok=True)
    config = configparser.RawConfigParser()
    config["supervisord"] = {
        "nodaemon": "true",
        "logfile": str(logs / "supervisord.log"),
        "pidfile": str(run / "supervisord.pid"),
        "childlogdir": str(logs),
        "loglevel": "info",
        "user": getpass.getuser(),  # says whom it runs as (supervisord warns when root is implied)
    }
    # The control socket is the owner's alone (0700), and asks for a password only this file holds.
    password = secrets.token_urlsafe(16)
    config["unix_http_server"] = {
        "file": str(socket_path(data_dir)),
        "chmod": "0700",
        "username": "lab",
        "password": password,
    }
    config["supervisorctl"] = {"serverurl": f"unix://{socket_path(data_dir)}", "username": "lab", "password": password}
    config["rpcinterface:supervisor"] = {
        "supervisor.rpcinterface_factory": "supervisor.rpcinterface:make_main_rpcinterface"
    }
    for process in processes:
        config[f"program:{process.name}"] = _program(process, logs=logs, directory=directory)
    config["eventlistener:why"] = {
        "command": shlex.join([sys.executable, "-m", "voicelab.supervision_events", str(logs), str(path)]),
        "events": "PROCESS_STATE_FATAL,PROCESS_STATE_EXITED",
        "directory": str(directory),
        "stderr_logfile": "/dev/stderr",
        "stderr_logfile_maxbytes": "0",
        "autorestart": "true",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
        config.write(handle)
    return path


def _program(process: LabProcess, *, logs: Path, directory: Path) -> dict[str, str]:
    program = {
        "command": shlex.join(process.argv).replace("%", "%%"),  # supervisord expands %(...)s
        "directory": str(directory),
        "priority": str(process.priority),
        "autostart": "true",
        "autorestart": "true",
        "startsecs": str(START_SECONDS),
        "startretries": str(START_RETRIES),
        "stopsignal": "TERM",
        "stopwaitsecs": str(process.stop_seconds),
        "stopasgroup": "true",
        "killasgroup": "true",
        "redirect_stderr": "true",
        "stdout_logfile": str(logs / f"{process.name}.log"),
        "stdout_logfile_maxbytes": LOG_BYTES,
        "stdout_logfile_backups": str(LOG_BACKUPS),
    }
    return program


def supervisord_argv(config: Path) -> list[str]:
    return [sys.executable, "-m", "supervisor.supervisord", "--nodaemon", "--configuration", str(config)]


def supervisorctl_argv(config: Path, *arguments: str) -> list[str]:
    return [sys.executable, "-m", "supervisor.supervisorctl", "--configuration", str(config), *arguments]
