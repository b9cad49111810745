"""Signals review sends, so that higher apps (webhooks) can follow decisions without review
importing them (the layers are one-way).

`output_decided` (sender: `Output`, keyword `output`): a decision on the output was committed
(approved, rejected, needs changes, or an appeal's overturn). Sent through `send_robust`: a
receiver's failure is logged and never undoes the decision or its other side effects.
"""

from __future__ import annotations

import logging

from django.dispatch import Signal

logger = logging.getLogger(__name__)

output_decided = Signal()


def output_decided_send(output) -> None:
    for receiver, outcome in output_decided.send_robust(sender=type(output), output=output):
        if isinstance(outcome, Exception):
            logger.error("output_decided receiver %r failed", receiver, exc_info=outcome)
