"""A leak trace's page socket (`/ws/traces/<id>/`): the trace's state and the read it is at,
live, for people who may trace. The protocol is `realtime.consumers.LiveConsumer`'s."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from channels.db import database_sync_to_async

from access.models import User
from access.roles import can_trace
from provenance.models import Trace
from provenance.services import trace_payload
from realtime import groups
from realtime.consumers import CLOSE_NOT_FOUND, LiveConsumer
from realtime.events import Event, TraceEvent


@database_sync_to_async
def _trace_snapshot(trace_id: UUID, user: User) -> dict[str, Any] | None:
    """The trace as its page shows it, or None if it is gone or `user` may not trace."""
    if not _may_trace(user):
        return None
    trace = Trace.objects.filter(id=trace_id).first()
    return None if trace is None else trace_payload(trace)


def _may_trace(user: User) -> bool:
    """`can_trace` on a fresh row: Django caches a user's permissions on the object, and a
    socket's user object lives as long as the socket."""
    fresh = User.objects.filter(pk=user.pk).first()
    return fresh is not None and can_trace(fresh)


class TraceConsumer(LiveConsumer):
    """One trace, for admins and leak responders (`can_trace`, asked afresh for every event: a
    responder whose role is taken away stops hearing it)."""

    async def authorize(self) -> int | None:
        self.trace_id = self.scope["url_route"]["kwargs"]["trace_id"]
        if await _trace_snapshot(self.trace_id, self.user) is None:
            return CLOSE_NOT_FOUND
        self.groups_extra = [groups.trace_group(self.trace_id)]
        return None

    async def snapshot(self) -> dict[str, Any]:
        return {"trace": await _trace_snapshot(self.trace_id, self.user)}

    async def may_forward(self, event: type[Event], payload: dict[str, Any]) -> bool:
        return (
            event is TraceEvent
            and payload["id"] == str(self.trace_id)
            and await database_sync_to_async(_may_trace)(self.user)
        )

    async def trace_update(self, message: dict[str, Any]) -> None:
        await self._forward(TraceEvent, message)
