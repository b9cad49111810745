"""Every state change of a job, by concern. Web page, API, worker and containment all come here.

- `submit`: validation against limits, quotas, `job_submit`
- `dispatch`: fair hand-out of waiting jobs to GPU slots
- `lifecycle`: claim, progress, finish, retry, cancel, containment's stop, and the reconciler
"""

from generation.services.dispatch import (
    dispatcher_wait,
    dispatcher_wake,
    jobs_dispatch,
    jobs_dispatch_all,
    jobs_dispatch_woken,
    publish_queue_positions,
)
from generation.services.errors import IdempotencyConflict, JobRejected, QuotaExceeded
from generation.services.lifecycle import (
    CANCEL_REASON_MAX_CHARS,
    ReconcileReport,
    Stopped,
    job_cancel,
    job_fail,
    job_heartbeat,
    job_record_progress,
    job_retry,
    job_start,
    job_succeed,
    jobs_reconcile,
    jobs_stop_for,
)
from generation.services.submit import (
    PROMPT_MAX_CHARS,
    RERUN_FIELDS,
    SEED_MAX,
    JobRequest,
    job_rerun,
    job_submit,
    job_validate,
)

__all__ = [
    "CANCEL_REASON_MAX_CHARS",
    "PROMPT_MAX_CHARS",
    "RERUN_FIELDS",
    "SEED_MAX",
    "IdempotencyConflict",
    "JobRejected",
    "JobRequest",
    "QuotaExceeded",
    "ReconcileReport",
    "Stopped",
    "dispatcher_wait",
    "dispatcher_wake",
    "job_cancel",
    "job_fail",
    "job_heartbeat",
    "job_record_progress",
    "job_rerun",
    "job_retry",
    "job_start",
    "job_submit",
    "job_succeed",
    "job_validate",
    "jobs_dispatch",
    "jobs_dispatch_all",
    "jobs_dispatch_woken",
    "jobs_reconcile",
    "jobs_stop_for",
    "publish_queue_positions",
]
