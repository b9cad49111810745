"""Job sockets: all of a user's jobs (`/ws/studio/`) and one job (`/ws/jobs/<id>/`).

The protocol (authentication, close codes, snapshot, re-checks) is `LiveConsumer`'s;
these decide only what each socket may see.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from channels.db import database_sync_to_async

from access.models import User
from generation.progress import job_payloads
from generation.selectors import STUDIO_JOB_LIMIT, job_visible_to, jobs_of
from realtime import groups
from realtime.consumers import CLOSE_NOT_FOUND, LiveConsumer
from realtime.events import BudgetEvent, Event, JobEvent, PreviewEvent


@database_sync_to_async
def _studio_snapshot(user: User) -> list[dict[str, Any]]:
    return job_payloads(list(jobs_of(owner=user)[:STUDIO_JOB_LIMIT]))


@database_sync_to_async
def _job_visible(job_id: UUID | str, user: User) -> bool:
    return job_visible_to(job_id=job_id, user=user) is not None


@database_sync_to_async
def _job_snapshot(job_id: UUID | str, user: User) -> list[dict[str, Any]]:
    job = job_visible_to(job_id=job_id, user=user)
    return [] if job is None else job_payloads([job])


def _job_of(event: type[Event], payload: dict[str, Any]) -> tuple[str, int] | None:
    if event is JobEvent:
        return payload["id"], payload["owner_id"]
    if event is PreviewEvent:
        return payload["job_id"], payload["owner_id"]
    return None


class StudioConsumer(LiveConsumer):
    """All of one user's jobs, live."""

    async def snapshot(self) -> dict[str, Any]:
        return {"jobs": await _studio_snapshot(self.user)}

    async def may_forward(self, event: type[Event], payload: dict[str, Any]) -> bool:
        if event is BudgetEvent:
            return payload["user_id"] == self.user.id
        job = _job_of(event, payload)
        return job is not None and job[1] == self.user.id


class JobConsumer(LiveConsumer):
    """One job, for its owner or a reviewer."""

    async def authorize(self) -> int | None:
        self.job_id = self.scope["url_route"]["kwargs"]["job_id"]
        if not await _job_visible(self.job_id, self.user):
            return CLOSE_NOT_FOUND
        self.groups_extra = [groups.job_group(self.job_id)]
        return None

    async def snapshot(self) -> dict[str, Any]:
        return {"jobs": await _job_snapshot(self.job_id, self.user)}

    async def may_forward(self, event: type[Event], payload: dict[str, Any]) -> bool:
        # This socket also hears its user's other jobs (it joins the user's group, so that
        # "access ended" reaches it): forward only its own job, and ask the database each time,
        # since a reviewer may lose the permission while watching.
        job = _job_of(event, payload)
        return (
            job is not None and job[0] == str(self.job_id) and await _job_visible(job[0], self.user)
        )
