"""The live view of one run: its stored history first, then every step as the worker sends it."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import translation

from accounts.selectors import reading_language
from distillation.models import DistillationRun, StyleRun
from distillation.services.live import history, readable, run_group, run_state

VIEW_PERMISSION = "distillation.view_distillationrun"


class RunConsumer(AsyncJsonWebsocketConsumer):
    """Operators only (4401: not logged in, 4403: not an operator, 4404: no such run).

    The group is joined before the history is read, and the worker stores an event
    before sending it: every event is in the history or arrives afterwards. Events at
    or before the last step already sent are dropped, so none arrives twice. This is the
    one duplicate filter: the consumer knows what it sent its socket (the page, run.js,
    draws what it gets), and any other client of the socket is spared duplicates too.
    """

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return await self.close(code=4401)
        if not await database_sync_to_async(user.has_perm)(VIEW_PERMISSION):
            return await self.close(code=4403)
        cookie = self.scope.get("cookies", {}).get(settings.LANGUAGE_COOKIE_NAME)
        self.language = await database_sync_to_async(reading_language)(user=user, cookie=cookie)
        self.run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        self.group = run_group(self.run_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        snapshot = await self._snapshot()
        if snapshot is None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            return await self.close(code=4404)
        await self.accept()
        self.sent = {style: (events[-1]["step"] if events else 0) for style, events in snapshot["history"].items()}
        await self.send_json({"type": "history", **snapshot})

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def run_steps(self, message: dict) -> None:
        last = self.sent.get(message["style"], 0)
        events = [event for event in message["events"] if event["step"] > last]
        if events:
            self.sent[message["style"]] = events[-1]["step"]
        progress = self._readable(message["progress"])
        await self.send_json({"type": "steps", "style": message["style"], "events": events, "progress": progress})

    async def run_status(self, message: dict) -> None:
        await self.send_json({"type": "status", "run": self._readable(message["run"])})

    async def run_preview(self, message: dict) -> None:
        await self.send_json({"type": "preview", "style": message["style"], "preview": message["preview"]})

    def _readable(self, state: dict) -> dict:
        """Errors in the language this socket's reader reads the lab in."""
        with translation.override(self.language):
            return readable(state)

    @database_sync_to_async
    def _snapshot(self) -> dict | None:
        run = DistillationRun.objects.filter(pk=self.run_id).first()
        if run is None:
            return None
        style_runs = list(StyleRun.objects.filter(run=run).select_related("run"))
        return {
            "run": self._readable(run_state(run)),
            "history": history(style_runs),
            "previews": {style_run.style: style_run.preview for style_run in style_runs if style_run.preview},
        }
