from __future__ import annotations

from django.db.models import QuerySet

from access.models import User
from generation.models import Job

STUDIO_JOB_LIMIT = 50


def jobs_of(*, owner: User) -> QuerySet[Job]:
    return Job.objects.filter(owner=owner).select_related("output").order_by("-created_at")


def job_visible_to(*, job_id: object, user: User) -> Job | None:
    """The job if `user` owns it or may moderate; None otherwise (shown as 404, not 403)."""
    from review.services import can_moderate

    if not user.is_authenticated or not user.is_active or user.standing_now != "active":
        return None
    jobs = Job.objects.select_related("output").filter(id=job_id)
    if not can_moderate(user):
        jobs = jobs.filter(owner=user)
    return jobs.first()
