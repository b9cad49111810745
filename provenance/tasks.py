from uuid import UUID

from celery import shared_task

from provenance.services import TRACE_TASK, trace_run


@shared_task(name=TRACE_TASK, acks_late=True, reject_on_worker_lost=True, soft_time_limit=300)
def run_trace(trace_id: str) -> str:
    """Transport only, on the CPU queue (never a GPU one): the row says what to trace."""
    trace = trace_run(trace_id=UUID(trace_id))
    return trace.state if trace is not None else "not queued"
