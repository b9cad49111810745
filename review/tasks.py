from celery import shared_task

from review.services.moderation import DECISION_MAIL_TASK, decision_mail_send


@shared_task(name=DECISION_MAIL_TASK, acks_late=True, soft_time_limit=60, time_limit=90)
def decision_mail(output_id: str, state: str, decided_at: str) -> str:
    """A review decision's email to the output's owner, once the reviewer's undo window has
    passed (on the CPU worker's `hooks` queue, never a GPU one)."""
    stood = decision_mail_send(output_id=output_id, state=state, decided_at=decided_at)
    return "sent" if stood else "withdrawn"
