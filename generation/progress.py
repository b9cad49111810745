"""How jobs reach browsers: build each job's `JobEvent` from its row, and publish it.

The transport (group names, payload types, throttling, the channel layer) is `realtime`'s; this
module only knows jobs. Every message carries the job's full current state, so a client simply
replaces what it shows; a reconnecting client gets the same payload from the database first.
"""

from __future__ import annotations

import base64
from typing import Any

from django.urls import reverse
from django.utils import timezone

from access.models import User
from generation.models import Job
from generation.quotas import Budget, budget_for
from generation.registry import get_model
from generation.selectors import QueueEstimate, queue_estimates
from realtime import groups
from realtime.events import BudgetEvent, JobEvent, OutputPayload, PreviewEvent
from realtime.publisher import publish, publish_all

PARAMETER_FIELDS = ("negative_prompt", "seed", "num_frames", "width", "height", "steps", "guidance")


def _eta_seconds(job: Job) -> float | None:
    """Remaining time extrapolated from this run's own pace so far."""
    if job.state != Job.State.RUNNING or not job.started_at or job.progress_step == 0:
        return None
    elapsed = (timezone.now() - job.started_at).total_seconds()
    return round(elapsed / job.progress_step * (job.steps - job.progress_step), 1)


def _output_payload(job: Job) -> OutputPayload | None:
    # The output row belongs to `review` (a one-to-one onto Job); reading its columns through the
    # reverse relation needs no import of review's code.
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


def job_event(job: Job, estimate: QueueEstimate | None = None) -> JobEvent:
    """The job's whole state; `estimate` adds queue position and ETA to a queued job."""
    queued = job.state == Job.State.QUEUED and estimate is not None
    return JobEvent(
        id=str(job.id),
        owner_id=job.owner_id,
        model=job.model_name,
        prompt=job.prompt,
        state=job.state,
        state_label=job.get_state_display(),
        step=job.progress_step,
        total_steps=job.steps,
        percent=job.percent,
        eta_s=estimate.eta_s if queued and estimate else _eta_seconds(job),
        queue_position=estimate.position if queued and estimate else None,
        error=job.error,
        created_at=job.created_at.isoformat(),
        output=_output_payload(job),
        parameters={name: getattr(job, name) for name in PARAMETER_FIELDS},
        parent_id=str(job.parent_id) if job.parent_id else None,
        started_at=job.started_at.isoformat() if job.started_at else None,
        completed_at=job.finished_at.isoformat() if job.is_final and job.finished_at else None,
    )


def job_payloads(jobs: list[Job]) -> list[dict[str, Any]]:
    """Payloads for a page or snapshot: queued jobs get their position and ETA."""
    estimates: dict[str, QueueEstimate] = {}
    for model_name in {job.model_name for job in jobs if job.state == Job.State.QUEUED}:
        spec = get_model(model_name)
        if spec is not None:
            estimates.update(queue_estimates(model_name, spec.slots))
    return [job_event(job, estimates.get(str(job.id))).as_dict() for job in jobs]


def publish_job(job: Job, *, force: bool = True, estimate: QueueEstimate | None = None) -> None:
    """Send the job's current state to its watchers. Never raises: progress is best effort."""
    publish(
        job_event(job, estimate),
        groups=[groups.job_group(job.id), groups.user_group(job.owner_id)],
        throttle_key=f"job:{job.id}",
        force=force,
        last=job.is_final,
    )


def publish_submitted(job: Job, *, budget: Budget) -> None:
    """A new job and its owner's budget line, to the owner's sockets, in one send. Not to the
    job's own group: no socket can have joined it yet, since the job's id leaves with the
    submission's response."""
    owner = [groups.user_group(job.owner_id)]
    publish_all([(job_event(job), owner), (budget_event(job.owner, budget), owner)])


def publish_positions(jobs: list[Job], estimates: dict[str, QueueEstimate]) -> None:
    """Waiting jobs with their queue position and ETA, to their watchers, in one send."""
    publish_all(
        (
            job_event(job, estimates[str(job.id)]),
            [groups.job_group(job.id), groups.user_group(job.owner_id)],
        )
        for job in jobs
    )


def budget_event(owner: User, budget: Budget | None = None) -> BudgetEvent:
    """`budget`: one already read (the submission's, under its lock); otherwise read now."""
    budget = budget or budget_for(owner)
    left = budget.gpu_seconds_left
    return BudgetEvent(
        user_id=owner.id,
        waiting=budget.waiting,
        waiting_limit=budget.waiting_limit,
        gpu_seconds_left=None if left is None else round(left),
        gpu_seconds_per_day=budget.gpu_seconds_per_day,
    )


def publish_budget(owner: User, *, budget: Budget | None = None) -> None:
    """The owner's budget line, to their own sockets (after a job is queued or ends)."""
    publish(budget_event(owner, budget), groups=[groups.user_group(owner.id)])


def publish_preview(job: Job, *, step: int, image: bytes, content_type: str) -> None:
    """A preview image of a running job, for its owner and reviewers (never other testers):
    only the owner's user group and the job's group (whose sockets check visibility) get it."""
    data = base64.b64encode(image).decode()
    event = PreviewEvent(
        job_id=str(job.id),
        owner_id=job.owner_id,
        step=step,
        total_steps=job.steps,
        image=f"data:{content_type};base64,{data}",
    )
    publish(event, groups=[groups.job_group(job.id), groups.user_group(job.owner_id)])
