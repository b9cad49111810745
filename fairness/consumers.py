"""The artist's page socket (`/ws/artist/`): use requests and appeal outcomes appear live.

The protocol is `realtime.consumers.LiveConsumer`'s; this socket hears only its own user's
notices, through a group nobody else joins.
"""

from __future__ import annotations

from typing import Any

from realtime import groups
from realtime.consumers import LiveConsumer
from realtime.events import ArtistNoticeEvent, Event


class ArtistConsumer(LiveConsumer):
    async def authorize(self) -> int | None:
        self.groups_extra = [groups.artist_group(self.user.id)]
        return None

    async def may_forward(self, event: type[Event], payload: dict[str, Any]) -> bool:
        return event is ArtistNoticeEvent and payload["user_id"] == self.user.id

    async def artist_notice(self, message: dict[str, Any]) -> None:
        await self._forward(ArtistNoticeEvent, message)
