"""Watching a distillation run from outside, as the dashboard does: over its websocket."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

from django.test import Client
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from .processes import NotReady, wait_until


class RunSocket:
    """A websocket client on ``/ws/distillation/runs/<id>/`` that keeps every message, in order."""

    def __init__(self, base_url: str, run_id: int, session_id: str) -> None:
        url = base_url.replace("http://", "ws://") + f"/ws/distillation/runs/{run_id}/"
        headers = {"Cookie": f"sessionid={session_id}", "Origin": base_url}
        self.socket = connect(url, additional_headers=headers, legacy=True)  # read from a thread, not a `with`
        self.messages: list[dict] = []
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    @classmethod
    def as_user(cls, base_url: str, run_id: int, user: object) -> RunSocket:
        client = Client()
        client.force_login(user)
        return cls(base_url, run_id, client.cookies["sessionid"].value)

    def _read(self) -> None:
        try:
            for text in self.socket:
                self.messages.append(json.loads(text))
        except ConnectionClosed as exc:
            self.error = exc

    def wait_for(self, condition: Callable[[list[dict]], bool], *, timeout: float, what: str) -> list[dict]:
        try:
            return wait_until(
                lambda: list(self.messages) if condition(list(self.messages)) else None,
                timeout=timeout,
                what=what,
                interval=0.2,
            )
        except NotReady as exc:
            heard = [(m["type"], m.get("run", {}).get("status"), len(m.get("events", []))) for m in self.messages]
            raise NotReady(
                f"{exc} The socket heard {len(heard)} messages: {heard[-10:]}; error: {self.error!r}"
            ) from None

    def steps(self, style: str) -> list[int]:
        """Every step received, history and live, in arrival order."""
        received = []
        for message in self.messages:
            if message["type"] == "history":
                received += [event["step"] for event in message["history"].get(style, [])]
            elif message["type"] == "steps" and message["style"] == style:
                received += [event["step"] for event in message["events"]]
        return received

    def walk_statuses(self, style: str) -> list[str]:
        """The walk's status as each status message showed it, repeats collapsed."""
        shown: list[str] = []
        for message in self.messages:
            if message["type"] in ("history", "status"):
                status = next(w["status"] for w in message["run"]["styles"] if w["style"] == style)
                if not shown or shown[-1] != status:
                    shown.append(status)
        return shown

    def run_status(self) -> str | None:
        statuses = [m["run"]["status"] for m in self.messages if m["type"] in ("history", "status")]
        return statuses[-1] if statuses else None

    def close(self) -> None:
        self.socket.close()
        self.thread.join(timeout=5)
