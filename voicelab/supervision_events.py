"""supervisord event listener: says in the console why a lab process died or was given up on.

supervisord itself only logs "exited: web (exit status 1; not expected)"; the reason is at
the end of that process's log, so this prints those lines with it. Run by supervisord
(``python -m voicelab.supervision_events LOG_DIR CONFIG``); it speaks on stdin/stdout with
supervisord and writes for people on stderr.
"""

from __future__ import annotations

import sys
from collections import deque
from pathlib import Path

from supervisor import childutils

TAIL_LINES = 15


def explain(event: str, payload: dict[str, str], log_dir: Path, config: Path) -> str | None:
    """The message for one state change, or None when there is nothing to say."""
    name = payload.get("processname", "?")
    if event == "PROCESS_STATE_FATAL":
        headline = (
            f"Voice Lab: gave up on “{name}”: it died again and again within seconds of starting. "
            f"Fix the cause, then `.venv/bin/supervisorctl -c {config} start {name}` (or restart the lab)."
        )
    elif event == "PROCESS_STATE_EXITED" and payload.get("expected") == "0":
        headline = f"Voice Lab: “{name}” (pid {payload.get('pid', '?')}) died unexpectedly; starting it again."
    else:
        return None
    log = log_dir / f"{name}.log"
    return f"{headline}\nThe end of {log}:\n{_tail(log)}"


def _tail(log: Path) -> str:
    try:
        with log.open(encoding="utf-8", errors="replace") as handle:
            return "".join(deque(handle, maxlen=TAIL_LINES)).rstrip() or "(empty)"
    except OSError:
        return "(no log)"


def main() -> None:
    log_dir, config = Path(sys.argv[1]), Path(sys.argv[2])
    while True:
        headers, body = childutils.listener.wait(sys.stdin, sys.stdout)
        payload = dict(token.split(":", 1) for token in body.split() if ":" in token)
        message = explain(headers["eventname"], payload, log_dir, config)
        if message:
            print(message, file=sys.stderr, flush=True)
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    main()
