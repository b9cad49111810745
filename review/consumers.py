"""The reviewers' live queue (`/ws/review/`): claims and decisions by others appear without reload.

The protocol is `realtime.consumers.LiveConsumer`'s; this socket adds the reviewer role to the
standing check, so a reviewer who loses the role is closed at the next event or re-check.
"""

from __future__ import annotations

from typing import Any

from access.models import User
from access.roles import can_moderate
from realtime import groups
from realtime.consumers import LiveConsumer
from realtime.events import Event, ReviewItemEvent


class ReviewQueueConsumer(LiveConsumer):
    def user_allowed(self, user: User) -> bool:
        return super().user_allowed(user) and can_moderate(user)

    async def authorize(self) -> int | None:
        self.groups_extra = [groups.REVIEWERS]
        return None

    async def may_forward(self, event: type[Event], payload: dict[str, Any]) -> bool:
        return event is ReviewItemEvent  # the role was just re-checked with standing
