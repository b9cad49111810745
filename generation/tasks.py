from uuid import UUID

from celery import shared_task
from celery.signals import worker_process_shutdown
from django.conf import settings
from django.db import close_old_connections

from generation.worker import finish_encoding, job_execute


@shared_task(bind=True, name="generation.run_job", acks_late=True, reject_on_worker_lost=True)
def run_job(self, job_id: str, dispatch_id: str) -> str:
    """Transport only: the job row says what to do, if this message is still its current one."""
    close_old_connections()  # like a request's start: a broken or expired connection is replaced
    return job_execute(
        job_id=UUID(job_id), dispatch_id=UUID(dispatch_id), worker=self.request.hostname or "worker"
    )


@worker_process_shutdown.connect
def _finish_encoding(**_: object) -> None:
    """A pool child that exits (warm shutdown, max tasks per child) first finishes the jobs it
    rendered: their messages are acked already, so nobody else would until the stall check."""
    finish_encoding(timeout=settings.JOB_SOFT_TIME_LIMIT)
