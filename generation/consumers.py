"""Websockets that stream job progress. They authenticate on connect and re-check on every event."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from access.models import User
from generation.progress import job_group, job_payloads, user_group
from generation.selectors import STUDIO_JOB_LIMIT, job_visible_to, jobs_of

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404


@database_sync_to_async
def _user_still_active(user_id: int) -> bool:
    user = User.objects.select_related("cohort").filter(id=user_id, is_active=True).first()
    return user is not None and user.standing_now == User.Standing.ACTIVE


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
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not await _user_still_active(self.user.id):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        if not await self.allowed():
            await self.close(code=CLOSE_NOT_FOUND)
            return
        # Subscribe before reading the snapshot: an event sent in between is then delivered
        # (at worst twice, which is harmless for whole-state payloads) instead of lost.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "snapshot", "jobs": await self.snapshot()})

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        # Clients only listen; anything they send is a reason to re-check, never an instruction.
        await self.ensure_allowed()

    async def ensure_allowed(self) -> bool:
        if await _user_still_active(self.user.id):
            return True
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
        # A reviewer may lose the permission while watching: ask the database every time.
        return await _job_visible(job["id"], self.user)
