"""Websocket of the workspace: pushes a take's refreshed cell when its validation ends."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth.context_processors import PermWrapper
from django.template.loader import render_to_string
from django.utils import translation

from accounts.selectors import reading_language
from labeling.models import Recording
from labeling.permissions import READ_PERMISSIONS
from labeling.selectors import category_progress, style_progress
from labeling.services.takes import TAKES_GROUP

PUSHED_FRAGMENTS = ("_take_cell", "_style_progress", "_category_progress")


class TakeUpdatesConsumer(AsyncWebsocketConsumer):
    """A login with a role required; the messages are htmx out-of-band swaps of the take's table cell,
    in the language its reader reads the lab in."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        if not await database_sync_to_async(user.has_perms)(READ_PERMISSIONS):
            await self.close(code=4403)  # the cells it pushes are the takes only roles may read
            return
        cookie = self.scope.get("cookies", {}).get(settings.LANGUAGE_COOKIE_NAME)
        self.language = await database_sync_to_async(reading_language)(user=user, cookie=cookie)
        await self.channel_layer.group_add(TAKES_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(TAKES_GROUP, self.channel_name)

    async def take_changed(self, event: dict) -> None:
        html = await self._render(event["recording_id"])
        if html:
            await self.send(text_data=html)

    @database_sync_to_async
    def _render(self, recording_id: int) -> str | None:
        take = (
            Recording.objects.select_related("sentence__current_label", "sentence__active_take")
            .filter(pk=recording_id)
            .first()
        )
        if take is None:
            return None
        context = {
            "sentence": take.sentence,
            "oob": True,
            "perms": PermWrapper(self.scope["user"]),
            "style_progress": style_progress(),
            "category_progress": category_progress(),
        }
        # One message, three out-of-band swaps: the take's cell and both progress panels.
        with translation.override(self.language):
            return "".join(render_to_string(f"labeling/{name}.html", context) for name in PUSHED_FRAGMENTS)
