"""The reviewers' live queue: claims and decisions made by others appear without reloading."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from access.models import User
from generation.progress import REVIEWERS_GROUP
from review.services import can_moderate

CLOSE_FORBIDDEN = 4403


@database_sync_to_async
def _may_moderate(user_id: int) -> bool:
    user = User.objects.filter(id=user_id).first()
    return user is not None and user.standing_now == User.Standing.ACTIVE and can_moderate(user)


class ReviewQueueConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.user = self.scope.get("user")
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=4401)
            return
        if not await _may_moderate(self.user.id):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.channel_layer.group_add(REVIEWERS_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(REVIEWERS_GROUP, self.channel_name)

    async def review_update(self, event: dict) -> None:
        if await _may_moderate(self.user.id):
            await self.send_json({"type": "review", "item": event["item"]})
        else:
            await self.close(code=CLOSE_FORBIDDEN)
