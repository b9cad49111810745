from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db.models import Count, F, Max, Q, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from access.models import Cohort, User
from access.roles import can_moderate
from generation.models import Job

STUDIO_JOB_LIMIT = 50
STUDIO_PAGE_SIZE = 24
ETA_SAMPLE = 20
_NEVER = datetime.min.replace(tzinfo=UTC)


def jobs_of(
    *, owner: User, state: str | None = None, model: str | None = None, text: str = ""
) -> QuerySet[Job]:
    """`owner`'s jobs, newest first; only those in `state`, of `model`, or whose prompt or
    negative prompt contains `text` (any case) when given."""
    jobs = Job.objects.filter(owner=owner).select_related("output").order_by("-created_at")
    if state:
        jobs = jobs.filter(state=state)
    if model:
        jobs = jobs.filter(model_name=model)
    if text:
        jobs = jobs.filter(Q(prompt__icontains=text) | Q(negative_prompt__icontains=text))
    return jobs


def job_state_counts(*, owner: User, text: str = "") -> dict[str, int]:
    """How many of `owner`'s jobs are in each state (of those whose prompts contain `text`, as
    `jobs_of` filters them): the studio's tabs, in one query."""
    rows = jobs_of(owner=owner, text=text).order_by().values("state").annotate(n=Count("id"))
    return {row["state"]: row["n"] for row in rows}


def job_owned_by(*, job_id: UUID | str, owner: User) -> Job | None:
    """One of `owner`'s own jobs (a job to reuse the settings of), or None."""
    return Job.objects.select_related("output").filter(id=job_id, owner=owner).first()


def job_visible_to(*, job_id: UUID | str, user: User) -> Job | None:
    """The job if `user` owns it or may moderate; None otherwise (shown as 404, not 403)."""
    if not user.is_authenticated or not user.may_act():
        return None
    jobs = Job.objects.select_related("output").filter(id=job_id)
    if not can_moderate(user):
        jobs = jobs.filter(owner=user)
    return jobs.first()


# --- fair dispatch -----------------------------------------------------------------------------


def waiting_jobs(model_name: str) -> QuerySet[Job]:
    """Jobs of a model that wait in the database for a GPU slot, oldest first."""
    return (
        Job.objects.filter(
            model_name=model_name, state=Job.State.QUEUED, dispatched_at__isnull=True
        )
        .select_related("owner", "owner__cohort")
        .order_by("created_at")
    )


def waiting_heads(model_name: str, free: int) -> QuerySet[Job, Mapping[str, object]]:
    """The ids of the waiting jobs one dispatch decision looks at: each tester's oldest few.

    Every tester with a waiting job is in the running, however long another tester's backlog;
    a tester can win at most about free/testers turns, so deeper rows are never needed.
    """
    waiting = waiting_jobs(model_name)
    owners = waiting.values("owner_id").distinct().count() or 1
    per_owner = min(free, -(-free // owners) + 1)
    ranked = waiting.annotate(
        rank=Window(RowNumber(), partition_by=F("owner_id"), order_by=F("created_at").asc())
    )
    return ranked.filter(rank__lte=per_owner).values("id")


def in_flight_jobs(model_name: str) -> QuerySet[Job]:
    """Jobs handed to Celery (waiting in a worker's queue or running)."""
    return Job.objects.filter(
        model_name=model_name,
        state__in=[Job.State.QUEUED, Job.State.RUNNING],
        dispatched_at__isnull=False,
    )


@dataclass(frozen=True)
class Service:
    """How much GPU service each tester got recently: the basis of fair turns."""

    counts: dict[int, int]
    last: dict[int, datetime]


def recent_service(owner_ids, window: timedelta) -> Service:
    rows = (
        Job.objects.filter(owner_id__in=owner_ids, dispatched_at__gte=timezone.now() - window)
        .values("owner_id")
        .annotate(n=Count("id"), last=Max("dispatched_at"))
    )
    return Service(
        counts={row["owner_id"]: row["n"] for row in rows},
        last={row["owner_id"]: row["last"] for row in rows},
    )


def _weight(cohort: Cohort | None) -> float:
    return cohort.dispatch_weight if cohort is not None else 1.0


def _lane(job: Job) -> str:
    cohort = job.owner.cohort
    return cohort.lane if cohort is not None else Cohort.Lane.ARTIST


def dispatch_order(waiting: list[Job], service: Service | None = None) -> list[Job]:
    """The order in which waiting jobs get GPU slots.

    Within a lane, a tester's k-th waiting job has virtual time (jobs served recently + k) /
    cohort weight; jobs run by virtual time, ties going to the tester served longest ago, then
    to the older job. So one tester's thirty queued jobs do not block another's first
    (A1, B1, C1, A2, B2, ...), and a tester who was just served waits for the others' turns.
    The artist and red-team lanes then take turns, so neither lane starves the other.
    """
    service = service or Service(counts={}, last={})
    index: dict[int, int] = defaultdict(int)
    keyed = []
    for job in waiting:  # oldest first
        k = index[job.owner_id] + service.counts.get(job.owner_id, 0)
        index[job.owner_id] += 1
        served = service.last.get(job.owner_id) or _NEVER
        keyed.append(((k / _weight(job.owner.cohort), served, job.created_at), job))
    lanes: dict[str, list[Job]] = defaultdict(list)
    for _, job in sorted(keyed, key=lambda pair: pair[0]):
        lanes[_lane(job)].append(job)
    return _interleave([lanes[Cohort.Lane.ARTIST], lanes[Cohort.Lane.RED_TEAM]])


def _interleave(queues: list[list[Job]]) -> list[Job]:
    merged, cursors = [], [0] * len(queues)
    while any(cursors[i] < len(q) for i, q in enumerate(queues)):
        for i, queue in enumerate(queues):
            if cursors[i] < len(queue):
                merged.append(queue[cursors[i]])
                cursors[i] += 1
    return merged


# --- queue position and ETA --------------------------------------------------------------------


@dataclass(frozen=True)
class QueueEstimate:
    position: int  # jobs that will run before this one
    eta_s: float | None  # until this job's video is ready


def typical_run_seconds(job: Job) -> float | None:
    """Median run time of recent jobs of the same model and shape; any recent job as fallback."""
    done = Job.objects.filter(
        model_name=job.model_name, state=Job.State.SUCCEEDED, started_at__isnull=False
    ).annotate(run=F("finished_at") - F("started_at"))
    similar = done.filter(
        num_frames=job.num_frames, width=job.width, height=job.height, steps=job.steps
    )
    for sample in (similar, done):
        runs = [
            row.total_seconds()
            for row in sample.order_by("-finished_at").values_list("run", flat=True)[:ETA_SAMPLE]
            if row is not None
        ]
        if runs:
            return statistics.median(runs)
    return None


def queue_estimates(model_name: str, slots: int) -> dict[str, QueueEstimate]:
    """Position and ETA of every job of a model that has not started yet.

    ETA = the typical run time of each job ahead (by its own shape) spread over the model's
    slots, plus this job's own typical run time.
    """
    ahead = list(in_flight_jobs(model_name).order_by("dispatched_at"))
    waiting = list(waiting_jobs(model_name))
    order = dispatch_order(
        waiting, recent_service({j.owner_id for j in waiting}, settings.FAIR_SHARE_WINDOW)
    )
    typical: dict[tuple, float | None] = {}

    def run_time(job: Job) -> float | None:
        shape = (job.num_frames, job.width, job.height, job.steps)
        if shape not in typical:
            typical[shape] = typical_run_seconds(job)
        return typical[shape]

    running = [job for job in ahead if job.state == Job.State.RUNNING]
    work_ahead = sum(run_time(job) or 0.0 for job in running) / 2  # half done, on average
    estimates = {}
    queued = [job for job in ahead if job.state == Job.State.QUEUED] + order
    for position, job in enumerate(queued, start=len(running)):
        own = run_time(job)
        eta = None if own is None else round(work_ahead / slots + own, 1)
        estimates[str(job.id)] = QueueEstimate(position=position, eta_s=eta)
        work_ahead += own or 0.0
    return estimates


def stalled_running_jobs(stall: timedelta) -> QuerySet[Job]:
    """Running jobs whose worker has not shown a sign of life (heartbeat) for `stall`."""
    cutoff = timezone.now() - stall
    silent = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, updated_at__lt=cutoff)
    return Job.objects.filter(silent, state=Job.State.RUNNING)


def dispatched_unclaimed(older_than: timedelta) -> QuerySet[Job]:
    """Jobs handed to Celery longer ago than `older_than` that no worker has claimed yet."""
    return Job.objects.filter(state=Job.State.QUEUED, dispatched_at__lt=timezone.now() - older_than)


def overdue_waiting_jobs() -> QuerySet[Job]:
    return Job.objects.filter(state=Job.State.QUEUED, wait_deadline__lt=timezone.now())
