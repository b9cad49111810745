"""Signals generation sends, so that higher apps (webhooks) can follow jobs without generation
importing them (the layers are one-way).

`job_changed` (sender: `Job`, keyword `job`): a run of the job started, or the job reached a
final state, or it went back to the queue. Sent after the change is committed, through
`send_robust`: a receiver's failure is logged and never undoes or interrupts the job's own work.
"""

from __future__ import annotations

import logging

from django.dispatch import Signal

logger = logging.getLogger(__name__)

job_changed = Signal()


def job_changed_send(job) -> None:
    for receiver, outcome in job_changed.send_robust(sender=type(job), job=job):
        if isinstance(outcome, Exception):
            logger.error("job_changed receiver %r failed", receiver, exc_info=outcome)
