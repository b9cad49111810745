"""What a web process knows about its socket users' standing: one check per user, shared.

Standing is pushed: a containment action sends `access.ended` to the user's, cohort's or program's
group and the sockets close on that message alone (`LiveConsumer.access_ended`). What is left to
check here is cheap by construction:

- `Standings.of` answers for one user and one kind of check (an endpoint's `user_allowed`). A
  result read less than `max_age` seconds ago is reused, and a read already under way is joined,
  so the ten sockets of one tester cost one check, not ten. Users asked for meanwhile are read
  together, in one query (`access.selectors.users_for_standing_check`), not one by one in the
  single thread that runs every database call of an ASGI process.
- The safety net for a lost `access.ended` is one sweep per process, not a timer per socket:
  every SOCKET_RECHECK_SECONDS it reads every watched user afresh in one query and closes the
  sockets of those no longer allowed, so a contained socket still closes within that period.

Results live per event loop (one per ASGI process; tests start a loop per test).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from channels.db import database_sync_to_async
from django.conf import settings

from access.models import User
from access.selectors import users_for_standing_check
from access.wording import access_ended_kind
from realtime import groups
from realtime.events import AccessEndedEvent

logger = logging.getLogger(__name__)

# A check of one endpoint kind (`LiveConsumer.user_allowed`); it must depend on the user alone.
Check = Callable[[User], bool]
Key = tuple[int, Callable[..., bool]]  # (user id, the unbound check: one per endpoint kind)


@dataclass(frozen=True)
class Standing:
    allowed: bool
    ended: AccessEndedEvent | None  # why access ended, when it did (None: refused otherwise)
    containment: tuple[str, ...]  # the groups a containment action addresses


class Watched(Protocol):
    """A socket the sweep may close."""

    async def refuse_now(self, ended: AccessEndedEvent | None) -> None: ...


def containment_groups(user: User) -> tuple[str, ...]:
    """The groups a containment action addresses: the program and the tester's cohort."""
    if user.is_staff:
        return ()
    return (groups.PROGRAM, *([groups.cohort_group(user.cohort_id)] if user.cohort_id else []))


def access_ended(user: User | None) -> AccessEndedEvent | None:
    """Why access ended, for the page; None when the socket is refused for another reason (a
    missing role or 2FA setup): the account's access did not end."""
    if user is None:
        return AccessEndedEvent(standing=User.Standing.REVOKED, reason="", kind="revoked")
    if user.may_act():
        return None
    return AccessEndedEvent(
        standing=user.standing_now, reason=user.access_ended_reason, kind=access_ended_kind(user)
    )


def standing(user: User | None, check: Check) -> Standing:
    if user is None or not check(user):
        return Standing(allowed=False, ended=access_ended(user), containment=())
    return Standing(allowed=True, ended=None, containment=containment_groups(user))


def _read(wanted: dict[Key, Check]) -> dict[Key, Standing]:
    """In the database thread: the standing of every wanted (user, check), in one query."""
    users = users_for_standing_check(ids={user_id for user_id, _ in wanted})
    return {key: standing(users.get(key[0]), check) for key, check in wanted.items()}


class _Read:
    """One batched read: the keys it answers and when it started."""

    def __init__(self, wanted: dict[Key, Check]) -> None:
        self.wanted = wanted
        self.started = time.monotonic()
        self.result: asyncio.Future[dict[Key, Standing]] = (
            asyncio.get_running_loop().create_future()
        )


class Standings:
    """One event loop's standings and watched sockets (see the module docstring)."""

    def __init__(self) -> None:
        self._known: dict[Key, tuple[float, Standing]] = {}
        self._reading: _Read | None = None  # the read under way
        self._next: dict[Key, Check] = {}  # wanted by the read after it
        self._next_read: _Read | None = None
        self._reader: asyncio.Task[None] | None = None
        self._watched: dict[Key, set[Watched]] = {}
        self._checks: dict[Key, Check] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self.reads = 0  # batched reads so far (tests and benches look)

    # --- asking --------------------------------------------------------------------------------

    async def of(self, key: Key, check: Check, *, max_age: float) -> Standing:
        """The standing of `key`, read at most `max_age` seconds before it is returned (0: a read
        that starts after this call)."""
        now = time.monotonic()
        known = self._known.get(key)
        if known is not None and now - known[0] <= max_age:
            return known[1]
        reading = self._reading
        if reading is not None and key in reading.wanted and now - reading.started <= max_age:
            return (await asyncio.shield(reading.result))[key]
        return (await asyncio.shield(self._read_soon(key, check)))[key]

    def _read_soon(self, key: Key, check: Check) -> asyncio.Future[dict[Key, Standing]]:
        """Add `key` to the next read and make sure one is coming."""
        self._next.setdefault(key, check)
        if self._next_read is None:
            self._next_read = _Read(self._next)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_batches())
        return self._next_read.result

    async def _read_batches(self) -> None:
        while self._next_read is not None:
            read, self._next_read, self._next = self._next_read, None, {}
            read.started = time.monotonic()
            self._reading = read
            try:
                found = await database_sync_to_async(_read)(read.wanted)
            except Exception as error:  # the database away: every asker gets the error
                read.result.set_exception(error)
                read.result.exception()  # retrieved here, so an unawaited read logs nothing
                continue
            except BaseException:  # cancelled (the loop is closing): so are the askers
                read.result.cancel()
                raise
            finally:
                self._reading = None
            self.reads += 1
            for key, answer in found.items():
                self._known[key] = (read.started, answer)
            read.result.set_result(found)

    # --- the safety net ------------------------------------------------------------------------

    def watch(self, key: Key, check: Check, socket: Watched) -> None:
        self._watched.setdefault(key, set()).add(socket)
        self._checks.setdefault(key, check)
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep_periodically())

    def unwatch(self, key: Key, socket: Watched) -> None:
        sockets = self._watched.get(key, set())
        sockets.discard(socket)
        if not sockets:
            self._watched.pop(key, None)
            self._checks.pop(key, None)
            self._known.pop(key, None)
        if not self._watched and self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    async def _sweep_periodically(self) -> None:
        while True:
            await asyncio.sleep(settings.SOCKET_RECHECK_SECONDS)
            try:
                await self.sweep()
            except Exception:
                logger.exception("The sockets' standing could not be re-checked")

    async def sweep(self) -> None:
        """Read every watched user afresh (one query) and close the sockets of those no longer
        allowed."""
        keys = list(self._watched)
        self._known = {key: self._known[key] for key in keys if key in self._known}
        if not keys:
            return
        for key in keys:
            self._read_soon(key, self._checks[key])
        assert self._next_read is not None
        found = await asyncio.shield(self._next_read.result)
        closing = [
            socket.refuse_now(found[key].ended)
            for key in keys
            if not found[key].allowed
            for socket in list(self._watched.get(key, ()))
        ]
        await asyncio.gather(*closing, return_exceptions=True)


_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Standings] = (
    weakref.WeakKeyDictionary()
)


def standings() -> Standings:
    """This event loop's (this ASGI process's) standings."""
    loop = asyncio.get_running_loop()
    found = _per_loop.get(loop)
    if found is None:
        found = _per_loop[loop] = Standings()
    return found
