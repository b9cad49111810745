"""Websockets that stream job progress. They authenticate on connect and re-check on every event."""

from __future__ import annotations

import asyncio

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from access.models import User
from generation.progress import (
    PROGRAM_GROUP,
    cohort_group,
    job_group,
    job_payloads,
    user_group,
)
from generation.selectors import STUDIO_JOB_LIMIT, job_visible_to, jobs_of

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404


@database_sync_to_async
def _user_still_active(user_id: int) -> bool:
    user = User.objects.select_related("cohort").filter(id=user_id, is_active=True).first()
    return user is not None and user.standing_now == User.Standing.ACTIVE


@database_sync_to_async
def _access_ended(user_id: int) -> dict:
    user = User.objects.select_related("cohort").get(id=user_id)
    return {
        "type": "access_ended",
        "standing": user.standing_now,
        "reason": user.access_ended_reason,
    }


@database_sync_to_async
def _containment_groups(user_id: int) -> list[str]:
    """The groups a containment action addresses: the program and the tester's cohort."""
    user = User.objects.get(id=user_id)
    if user.is_staff:
        return []
    return [PROGRAM_GROUP] + ([cohort_group(user.cohort_id)] if user.cohort_id else [])


@database_sync_to_async
def _studio_snapshot(user: User) -> list[dict]:
    return job_payloads(list(jobs_of(owner=user)[:STUDIO_JOB_LIMIT]))


@database_sync_to_async
def _job_visible(job_id: object, user: User) -> bool:
    return job_visible_to(job_id=job_id, user=user) is not None


@database_sync_to_async
def _job_snapshot(job_id: object, user: User) -> dict | None:
    job = job_visible_to(job_id=job_id, user=user)
    return None if job is None else job_payloads([job])[0]


class _AuthenticatedConsumer(AsyncJsonWebsocketConsumer):
    group: str = ""

    async def connect(self) -> None:
        self.user = self.scope.get("user")
        if self.user is None or not self.user.is_authenticated:
            await self.refuse(CLOSE_UNAUTHENTICATED)
            return
        if not await _user_still_active(self.user.id):
            await self.refuse(CLOSE_FORBIDDEN, await _access_ended(self.user.id))
            return
        if not await self.allowed():
            await self.refuse(CLOSE_NOT_FOUND)
            return
        # Subscribe before reading the snapshot: an event sent in between is then delivered
        # (at worst twice, which is harmless for whole-state payloads) instead of lost.
        self.groups_joined = [
            self.group,
            user_group(self.user.id),
            *await _containment_groups(self.user.id),
        ]
        for group in dict.fromkeys(self.groups_joined):
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "snapshot", "jobs": await self.snapshot()})
        # The safety net for a lost "access ended" message: look again every few seconds.
        self.recheck = asyncio.create_task(self._recheck_periodically())

    async def disconnect(self, code: int) -> None:
        if getattr(self, "recheck", None):
            self.recheck.cancel()
        for group in dict.fromkeys(getattr(self, "groups_joined", [])):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def _recheck_periodically(self) -> None:
        while True:
            await asyncio.sleep(settings.SOCKET_RECHECK_SECONDS)
            if not await self.ensure_allowed():
                return

    async def access_ended(self, event: dict) -> None:
        """A containment action reached this socket's user, cohort or program: close now.

        No database check first: closing fast matters more. The rare wrong close (a tester who
        moved cohorts since connecting) costs a reconnect, which checks standing again.
        """
        await self.send_json(
            {"type": "access_ended", "standing": event["standing"], "reason": event["reason"]}
        )
        await self.close(code=CLOSE_FORBIDDEN)

    async def receive_json(self, content, **kwargs) -> None:
        # Clients only listen; anything they send is a reason to re-check, never an instruction.
        await self.ensure_allowed()

    async def refuse(self, code: int, ended: dict | None = None) -> None:
        """Accept, explain, then close with our code: a socket refused during the handshake
        reaches the browser as a bare 1006, which looks like a network error worth retrying."""
        await self.accept()
        if ended is not None:
            await self.send_json(ended)
        await self.close(code=code)

    async def ensure_allowed(self) -> bool:
        if await _user_still_active(self.user.id):
            return True
        await self.send_json(await _access_ended(self.user.id))
        await self.close(code=CLOSE_FORBIDDEN)
        return False

    async def job_update(self, event: dict) -> None:
        if await self.ensure_allowed() and await self.may_see(event["job"]):
            await self.send_json({"type": "job", "job": event["job"]})

    async def job_preview(self, event: dict) -> None:
        preview = event["preview"]
        job = {"id": preview["job_id"], "owner_id": preview["owner_id"]}
        if await self.ensure_allowed() and await self.may_see(job):
            await self.send_json({"type": "preview", "preview": preview})

    async def allowed(self) -> bool:
        """Decide on connect whether this user may watch; sets `self.group`."""
        raise NotImplementedError

    async def snapshot(self) -> list[dict]:
        raise NotImplementedError

    async def may_see(self, job: dict) -> bool:
        raise NotImplementedError


class StudioConsumer(_AuthenticatedConsumer):
    """All of one user's jobs: `/ws/studio/`."""

    async def allowed(self) -> bool:
        self.group = user_group(self.user.id)
        return True

    async def snapshot(self) -> list[dict]:
        return await _studio_snapshot(self.user)

    async def may_see(self, job: dict) -> bool:
        return job["owner_id"] == self.user.id


class JobConsumer(_AuthenticatedConsumer):
    """One job, for its owner or a reviewer: `/ws/jobs/<id>/`."""

    async def allowed(self) -> bool:
        self.job_id = self.scope["url_route"]["kwargs"]["job_id"]
        self.group = job_group(self.job_id)
        return await _job_visible(self.job_id, self.user)

    async def snapshot(self) -> list[dict]:
        job = await _job_snapshot(self.job_id, self.user)
        return [job] if job else []

    async def may_see(self, job: dict) -> bool:
        # This socket also hears its user's other jobs (it joins the user's group, so that
        # "access ended" reaches it): forward only its own job, and ask the database each time,
        # since a reviewer may lose the permission while watching.
        return job["id"] == str(self.job_id) and await _job_visible(job["id"], self.user)
