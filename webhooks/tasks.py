from uuid import UUID

from celery import shared_task

from webhooks.services import DELIVER_TASK, delivery_attempt


@shared_task(
    name=DELIVER_TASK, acks_late=True, reject_on_worker_lost=True, soft_time_limit=60, time_limit=90
)
def deliver(delivery_id: str, attempt: int) -> str:
    """Transport only, on the CPU worker's `hooks` queue (never a GPU one): the row says what to
    send; the attempt number fences off duplicate messages."""
    delivery = delivery_attempt(delivery_id=UUID(delivery_id), attempt=attempt)
    return delivery.state if delivery is not None else "stale"
