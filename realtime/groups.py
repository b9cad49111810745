"""Channel-layer group names: the one place that spells them."""

from __future__ import annotations

PROGRAM = "program"  # every non-staff socket: a program pause closes them all
REVIEWERS = "reviewers"  # every open review queue


def job_group(job_id: object) -> str:
    """Everyone allowed to watch one job (its owner and reviewers)."""
    return f"job.{job_id}"


def user_group(user_id: object) -> str:
    """All of one user's sockets."""
    return f"user.{user_id}"


def cohort_group(cohort_id: object) -> str:
    """The sockets of one cohort's testers: a cohort suspension closes them."""
    return f"cohort.{cohort_id}"


def artist_group(user_id: object) -> str:
    """One artist's own page of consent requests, appeals and answers (only that socket joins)."""
    return f"artist.{user_id}"


def trace_group(trace_id: object) -> str:
    """Everyone watching one leak trace's page (people who may trace)."""
    return f"trace.{trace_id}"
