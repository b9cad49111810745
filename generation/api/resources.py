"""A job as the API shows it: the socket's payload (state, progress, queue position, ETA,
output) plus what an API client needs to reproduce and account for it — the parameters it ran
with, the job whose settings it reused, when it started and completed, and how long it ran."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from generation.models import Job
from generation.progress import PARAMETER_FIELDS, job_event, job_payloads


def job_resources(jobs: list[Job]) -> list[dict[str, Any]]:
    """Reads: queued jobs get their queue position and ETA (as on the studio's page)."""
    return [
        {**payload, **_details(job)} for job, payload in zip(jobs, job_payloads(jobs), strict=True)
    ]


def job_resource(job: Job) -> dict[str, Any]:
    """Writes (create, cancel): no queue position, which would order the model's whole queue."""
    return {**job_event(job).as_dict(), **_details(job)}


def _details(job: Job) -> dict[str, Any]:
    finished = job.state in Job.FINAL_STATES
    return {
        "parameters": {name: getattr(job, name) for name in PARAMETER_FIELDS},
        "parent_id": str(job.parent_id) if job.parent_id else None,
        "started_at": _iso(job.started_at),
        "completed_at": _iso(job.finished_at) if finished else None,
        # Replicate's `metrics.predict_time`: the render's measured seconds, the GPU-seconds
        # charged to the quota (the pipeline's load is not charged); null until it has run.
        "metrics": {"predict_time": round(job.gpu_seconds, 3) if job.gpu_seconds else None},
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
