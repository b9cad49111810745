from uuid import UUID

from celery import shared_task

from generation.worker import job_execute


@shared_task(bind=True, name="generation.run_job", acks_late=True, reject_on_worker_lost=True)
def run_job(self, job_id: str, dispatch_id: str) -> str:
    """Transport only: the job row says what to do, if this message is still its current one."""
    return job_execute(
        job_id=UUID(job_id), dispatch_id=UUID(dispatch_id), worker=self.request.hostname or "worker"
    )
