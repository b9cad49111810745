"""The one base consumer every socket endpoint extends.

It authenticates at the handshake and refuses by accepting then closing with our codes (without
ever joining the channel layer); an accepted socket joins the user's and containment groups, gets
a snapshot, and the endpoint is asked before each event is forwarded. Endpoints override
`authorize`, `snapshot`, `user_allowed` and `may_forward`.

Standing is pushed: `access.ended` closes a socket on the message alone, and `standing.changed`
(a role or permission of the user changed: `realtime.signals`) makes it check afresh at once, so
no event sent after the change reaches a socket whose user lost the right to it. Every forwarded
event and every client frame still re-checks standing, through `realtime.standing`: one check
per user shared by all of that user's sockets in the process, reused for STANDING_MAX_AGE_S, many
users read in one query; and one sweep per process re-reads every user every SOCKET_RECHECK_SECONDS,
so a socket whose "access ended" message was lost still closes within that period.

Clients only listen. A frame the server cannot read (binary, not JSON, nested deeper than
`access.json_limits.MAX_DEPTH`, or longer than MAX_FRAME_CHARS) is answered with an error frame,
`{"type": "error", "error": "<why>"}`, and the socket stays open: a buggy client learns what it did
wrong, and nothing a client sends can crash the consumer (an unhandled exception reaches the
browser as a bare 1006, which live.js would retry forever).
"""

from __future__ import annotations

import json
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from prometheus_client import Gauge

from access.json_limits import JSONRejected, loads
from access.models import User
from realtime import groups
from realtime.events import (
    AccessEndedEvent,
    BudgetEvent,
    Event,
    JobEvent,
    PreviewEvent,
    ReviewItemEvent,
)
from realtime.standing import Key, Standing, standings

# Summed over the web server's live uvicorn workers (scripts/serve_web.sh's multiprocess folder);
# a single process reports its own.
OPEN_SOCKETS = Gauge(
    "vernissage_open_sockets",
    "Websockets open in this web server, per endpoint.",
    ["endpoint"],
    multiprocess_mode="livesum",
)

CLOSE_SERVICE_RESTART = 1012  # the page reconnects with backoff (static/js/live.js)
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
MAX_FRAME_CHARS = 64 * 1024
# How old a standing may be when an event is forwarded or a frame answered. A tester's ten tabs
# hearing one event, or a burst of progress, then cost one check. A role taken away is pushed
# (`standing.changed`); were that message lost, the events would still stop within this much.
STANDING_MAX_AGE_S = 0.25  # (a frame from the client is always checked afresh)


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """Base of every endpoint. Subclasses list their extra groups in `self.groups_extra`."""

    groups_extra: list[str]
    groups_joined: list[str]
    containment: list[str]
    counted: Gauge | None = None  # this socket's count in OPEN_SOCKETS, until it closes
    standing_key: Key
    watched = False  # in the process's standing sweep, until it closes
    refused = False  # closed by us (once)

    # --- what an endpoint decides -----------------------------------------------------------

    def user_allowed(self, user: User) -> bool:
        """Runs in the database thread with a fresh user row: the one standing check, and the one
        2FA rule (staff without 2FA get nothing but the 2FA setup page). It must depend on the
        user alone: its answer is shared by every socket of this kind of that user."""
        return user.may_act() and not user.mfa_missing()

    async def authorize(self) -> int | None:
        """After standing: None to accept (and set `self.groups_extra`), or a close code."""
        return None

    async def snapshot(self) -> dict[str, Any]:
        """What the first message carries besides its type (the current state of the page)."""
        return {}

    async def may_forward(self, event: type[Event], payload: dict[str, Any]) -> bool:
        """May this socket's user see this event? Asked for every event, after standing."""
        return False

    # --- the protocol ---------------------------------------------------------------------------

    async def dispatch(self, message: dict[str, Any]) -> None:
        """channels' dispatch without its `aclose_old_connections()` before every message.

        That call hops to asgiref's one sync thread for each frame and each channel-layer event:
        a job event for every tester queued 1,000 hops there, behind each other and behind the
        standing reads. Nothing here touches the database outside `database_sync_to_async`,
        which closes old connections around each call itself.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Decide at the handshake, before touching the channel layer: a refused socket never
        starts a channel-layer receive. (channels-redis can swallow a cancellation that lands
        while its receive is starting; the consumer then outlived its client, polling Redis for
        ever, and `asyncio.run` in a test hung cancelling it.)"""
        self.scope = scope
        first = await receive()
        if first["type"] == "websocket.connect":
            refusal = await self._decide()
            if refusal is not None:
                await self._refuse_handshake(send, *refusal)
                return
        replay = [first]

        async def receive_replaying() -> Any:
            return replay.pop() if replay else await receive()

        await super().__call__(scope, receive_replaying, send)

    async def _decide(self) -> tuple[int, AccessEndedEvent | None] | None:
        """None to accept; otherwise the close code and, if access ended, why."""
        self.user = self.scope.get("user")
        self.groups_extra, self.groups_joined, self.containment = [], [], []
        if self.user is None or not self.user.is_authenticated:
            return CLOSE_UNAUTHENTICATED, None
        self.standing_key = (self.user.id, type(self).user_allowed)
        # At the handshake, a standing read after the socket asked (shared with the user's other
        # sockets connecting at the same moment).
        standing = await self._standing(max_age=0)
        if not standing.allowed:
            return CLOSE_FORBIDDEN, standing.ended
        self.containment = list(standing.containment)
        code = await self.authorize()
        return None if code is None else (code, None)

    @staticmethod
    async def _refuse_handshake(send: Any, code: int, ended: AccessEndedEvent | None) -> None:
        """Accept, explain, then close with our code: a socket refused during the handshake
        reaches the browser as a bare 1006, which looks like a network error worth retrying."""
        await send({"type": "websocket.accept"})
        if ended is not None:
            text = json.dumps(AccessEndedEvent.client_message(ended.as_dict()))
            await send({"type": "websocket.send", "text": text})
        await send({"type": "websocket.close", "code": code})

    async def connect(self) -> None:
        """Only accepted sockets get here (see `__call__`)."""
        # Subscribe before reading the snapshot: an event sent in between is then delivered
        # (at worst twice, harmless for whole-state payloads) instead of lost.
        self.groups_joined = list(
            dict.fromkeys([*self.groups_extra, groups.user_group(self.user.id), *self.containment])
        )
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        self.counted = OPEN_SOCKETS.labels(endpoint=type(self).__name__)
        self.counted.inc()
        # The safety net for a lost "access ended" message: the process's sweep looks again.
        standings().watch(self.standing_key, self.user_allowed, self)
        self.watched = True
        await self.send_json({"type": "snapshot", **await self.snapshot()})

    async def disconnect(self, code: int) -> None:
        if self.counted is not None:
            self.counted.dec()
            self.counted = None
        if self.watched:
            standings().unwatch(self.standing_key, self)
            self.watched = False
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def _standing(self, *, max_age: float) -> Standing:
        return await standings().of(self.standing_key, self.user_allowed, max_age=max_age)

    async def ensure_allowed(self, *, max_age: float = STANDING_MAX_AGE_S) -> bool:
        standing = await self._standing(max_age=max_age)
        if standing.allowed:
            return True
        await self.refuse_now(standing.ended)
        return False

    async def refuse_now(self, ended: AccessEndedEvent | None) -> None:
        """Say why (if access ended) and close; once, whoever noticed first (an event, the
        sweep, the containment message)."""
        if self.refused:
            return
        self.refused = True
        if ended is not None:
            await self.send_json(AccessEndedEvent.client_message(ended.as_dict()))
        await self.close(code=CLOSE_FORBIDDEN)

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        """Every frame from the client: JSON text goes on to `receive_json`; anything else is
        answered with an error frame, and still counts as a message (standing is re-checked)."""
        if text_data is None:
            await self.send_error("Binary frames are not accepted; send JSON text.")
        elif len(text_data) > MAX_FRAME_CHARS:
            await self.send_error(f"Frames are limited to {MAX_FRAME_CHARS} characters.")
        else:
            try:
                content = await self.decode_json(text_data)
            except JSONRejected as exc:
                await self.send_error(str(exc))
            else:
                await self.receive_json(content, **kwargs)
                return
        await self.ensure_allowed(max_age=0)

    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        return loads(text_data)

    async def send_error(self, error: str) -> None:
        await self.send_json({"type": "error", "error": error})

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # Clients only listen; anything they send is a reason to re-check, never an instruction.
        # Afresh: frames are rare, and a page that talks after a lost "access ended" is closed.
        await self.ensure_allowed(max_age=0)

    async def _forward(self, event: type[Event], message: dict[str, Any]) -> None:
        payload = message["payload"]
        if await self.ensure_allowed() and await self.may_forward(event, payload):
            await self.send_json(event.client_message(payload))

    # --- channel-layer handlers (one per event type) ---------------------------------------------

    async def access_ended(self, message: dict[str, Any]) -> None:
        """No database check first: closing fast matters more. The rare wrong close (a tester who
        moved cohorts since connecting) costs a reconnect, which checks standing again."""
        await self.refuse_now(AccessEndedEvent(**message["payload"]))

    async def standing_changed(self, message: dict[str, Any]) -> None:
        """Sent to the user's group on commit of a role change, so it reaches this socket before
        any event published after that commit (one channel's messages arrive in order)."""
        await self.ensure_allowed(max_age=0)

    async def layer_lost(self, message: dict[str, Any]) -> None:
        """This process lost Redis (`realtime.layers`): what was published meanwhile is gone for
        it. Close with 1012 so the page reconnects and starts again from a snapshot."""
        await self.close(code=CLOSE_SERVICE_RESTART)

    async def job_update(self, message: dict[str, Any]) -> None:
        await self._forward(JobEvent, message)

    async def job_preview(self, message: dict[str, Any]) -> None:
        await self._forward(PreviewEvent, message)

    async def budget_update(self, message: dict[str, Any]) -> None:
        await self._forward(BudgetEvent, message)

    async def review_update(self, message: dict[str, Any]) -> None:
        await self._forward(ReviewItemEvent, message)
