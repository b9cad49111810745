"""The lower apps' signals, turned into webhook events of the job's or output's owner.

Connected in `WebhooksConfig.ready`. Each event is emitted once the change it reports is
committed (the signals are sent after commit already; `on_commit` keeps that true should a sender
ever be inside a transaction), and carries only that owner's own ids and states.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from generation.models import Job
from generation.signals import job_changed
from review.models import Output
from review.signals import output_decided
from webhooks.models import EventType
from webhooks.services import event_emit

JOB_EVENTS: dict[str, str] = {
    Job.State.RUNNING: EventType.JOB_STARTED,
    Job.State.SUCCEEDED: EventType.JOB_SUCCEEDED,
    Job.State.FAILED: EventType.JOB_FAILED,
    Job.State.CANCELLED: EventType.JOB_CANCELLED,
}
OUTPUT_EVENTS: dict[str, str] = {
    Output.State.APPROVED: EventType.OUTPUT_APPROVED,
    Output.State.REJECTED: EventType.OUTPUT_REJECTED,
    Output.State.NEEDS_CHANGES: EventType.OUTPUT_NEEDS_CHANGES,
}


def _when(value) -> str | None:
    return value.isoformat() if value else None


def job_data(job: Job) -> dict[str, Any]:
    return {
        "job": {
            "id": str(job.id),
            "state": job.state,
            "model": job.model_name,
            "attempt": job.attempt,
            "created_at": _when(job.created_at),
            "started_at": _when(job.started_at),
            "finished_at": _when(job.finished_at),
            "error": job.error or None,
        }
    }


def output_data(output: Output) -> dict[str, Any]:
    """The decision as the owner's email tells it: never who decided."""
    return {
        "output": {
            "id": str(output.id),
            "job_id": str(output.job_id),
            "state": output.state,
            "reason": output.decision_reason or None,
            "note": output.decision_note or None,
            "decided_at": _when(output.decided_at),
        }
    }


def on_job_changed(sender: type, *, job: Job, **kwargs: Any) -> None:
    if event := JOB_EVENTS.get(job.state):
        data, owner_id = job_data(job), job.owner_id
        transaction.on_commit(lambda: event_emit(owner_id=owner_id, event_type=event, data=data))


def on_output_decided(sender: type, *, output: Output, **kwargs: Any) -> None:
    if event := OUTPUT_EVENTS.get(output.state):
        data, owner_id = output_data(output), output.job.owner_id
        transaction.on_commit(lambda: event_emit(owner_id=owner_id, event_type=event, data=data))


def connect() -> None:
    job_changed.connect(on_job_changed, dispatch_uid="webhooks.job_changed")
    output_decided.connect(on_output_decided, dispatch_uid="webhooks.output_decided")
