"""The one way progress and state changes reach browsers.

Group names: `job.<id>` (anyone allowed to watch one job) and `user.<id>` (all of a user's pages).
Every message carries one typed payload, a `JobPayload` of the job's full current state, so a client
simply replaces what it shows; a reconnecting client gets the same payload from the database first.
Sends for mere step progress are throttled; state changes always go out.
"""

from __future__ import annotations

import base64
import logging
import time
from dataclasses import asdict, dataclass

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from generation.models import Job

logger = logging.getLogger(__name__)

JOB_UPDATE = "job.update"  # consumers handle it in `job_update`
JOB_PREVIEW = "job.preview"  # consumers handle it in `job_preview`
ACCESS_ENDED = "access.ended"  # consumers handle it in `access_ended`
PROGRAM_GROUP = "program"  # every non-staff socket
REVIEW_UPDATE = "review.update"  # reviewer consumers handle it in `review_update`
REVIEWERS_GROUP = "reviewers"

_last_sent: dict[str, float] = {}


def job_group(job_id: object) -> str:
    return f"job.{job_id}"


def user_group(user_id: object) -> str:
    return f"user.{user_id}"


def cohort_group(cohort_id: object) -> str:
    return f"cohort.{cohort_id}"


def publish_access_ended(*, groups: list[str], standing: str, reason: str) -> None:
    """Close every socket in these groups now (the sockets also re-check on their own)."""
    message = {"type": ACCESS_ENDED, "standing": standing, "reason": reason}
    send = async_to_sync(get_channel_layer().group_send)
    for group in groups:
        try:
            send(group, message)
        except Exception:
            logger.exception("Could not tell group %s that access ended", group)


def publish_review(*, output_id: object, state: str, claimed_by: str, approvals: int) -> None:
    """Tell every open review queue that an item was claimed, released or decided."""
    message = {
        "type": REVIEW_UPDATE,
        "item": {
            "id": str(output_id),
            "state": state,
            "claimed_by": claimed_by,
            "approvals": approvals,
        },
    }
    try:
        async_to_sync(get_channel_layer().group_send)(REVIEWERS_GROUP, message)
    except Exception:
        logger.exception("Could not publish review update of output %s", output_id)


@dataclass(frozen=True)
class OutputPayload:
    id: str
    state: str
    state_label: str
    reason: str
    note: str
    video_url: str
    poster_url: str


@dataclass(frozen=True)
class JobPayload:
    id: str
    owner_id: int
    model: str
    prompt: str
    state: str
    state_label: str
    step: int
    total_steps: int
    percent: int
    eta_s: float | None
    queue_position: int | None
    error: str
    created_at: str
    output: OutputPayload | None

    def as_dict(self) -> dict:
        return asdict(self)


def _eta_seconds(job: Job) -> float | None:
    """Remaining time extrapolated from this run's own pace so far."""
    if job.state != Job.State.RUNNING or not job.started_at or job.progress_step == 0:
        return None
    elapsed = (timezone.now() - job.started_at).total_seconds()
    return round(elapsed / job.progress_step * (job.steps - job.progress_step), 1)


def _output_payload(job: Job) -> OutputPayload | None:
    output = getattr(job, "output", None) if job.state == Job.State.SUCCEEDED else None
    if output is None:
        return None
    return OutputPayload(
        id=str(output.id),
        state=output.state,
        state_label=output.get_state_display(),
        reason=output.decision_reason,
        note=output.decision_note,
        video_url=reverse("output_video", kwargs={"output_id": output.id}),
        poster_url=reverse("output_poster", kwargs={"output_id": output.id}),
    )


def job_payload(job: Job, estimate=None) -> JobPayload:
    """The job's whole state; `estimate` (a QueueEstimate) adds queue position and ETA."""
    queued = job.state == Job.State.QUEUED and estimate is not None
    return JobPayload(
        id=str(job.id),
        owner_id=job.owner_id,
        model=job.model_name,
        prompt=job.prompt,
        state=job.state,
        state_label=job.get_state_display(),
        step=job.progress_step,
        total_steps=job.steps,
        percent=job.percent,
        eta_s=estimate.eta_s if queued else _eta_seconds(job),
        queue_position=estimate.position if queued else None,
        error=job.error,
        created_at=job.created_at.isoformat(),
        output=_output_payload(job),
    )


def job_payloads(jobs: list[Job]) -> list[dict]:
    """Payloads for a page or snapshot: queued jobs get their position and ETA."""
    from generation.registry import get_model
    from generation.selectors import queue_estimates

    estimates = {}
    for model_name in {job.model_name for job in jobs if job.state == Job.State.QUEUED}:
        spec = get_model(model_name)
        if spec is not None:
            estimates.update(queue_estimates(model_name, spec.slots))
    return [job_payload(job, estimates.get(str(job.id))).as_dict() for job in jobs]


def _throttled(job: Job, *, force: bool) -> bool:
    key = str(job.id)
    now = time.monotonic()
    if not force and now - _last_sent.get(key, 0.0) < settings.PROGRESS_MIN_INTERVAL_S:
        return True
    _last_sent[key] = now
    if job.is_final:
        _last_sent.pop(key, None)
    return False


def publish_job(job: Job, *, force: bool = True, estimate=None) -> None:
    """Send the job's current state to its watchers. Never raises: progress is best effort."""
    if _throttled(job, force=force):
        return
    message = {"type": JOB_UPDATE, "job": job_payload(job, estimate).as_dict()}
    try:
        send = async_to_sync(get_channel_layer().group_send)
        send(job_group(job.id), message)
        send(user_group(job.owner_id), message)
    except Exception:
        logger.exception("Could not publish progress of job %s", job.id)


def publish_preview(job: Job, *, step: int, image: bytes, content_type: str) -> None:
    """A preview image of a running job, for its owner and reviewers (never other testers):
    only the owner's user group and the job's group (whose sockets check visibility) get it."""
    data = base64.b64encode(image).decode()
    message = {
        "type": JOB_PREVIEW,
        "preview": {
            "job_id": str(job.id),
            "owner_id": job.owner_id,
            "step": step,
            "total_steps": job.steps,
            "image": f"data:{content_type};base64,{data}",
        },
    }
    try:
        send = async_to_sync(get_channel_layer().group_send)
        send(job_group(job.id), message)
        send(user_group(job.owner_id), message)
    except Exception:
        logger.exception("Could not publish a preview of job %s", job.id)
