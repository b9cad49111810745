"""Every state change of the fairness app, by concern.

- `consent`: use requests, answers, withdrawals, recorded uses and the consented export
- `appeals`: filing and deciding appeals
- `artists`: training preference (and its record per job), credit, the artist's archive
- `threads`: replies to feedback and findings, and their statuses
- `retention`: deleting outputs (by their artist, by a cohort's retention period), legal holds
"""

from fairness.services.appeals import appeal_decide, appeal_file
from fairness.services.artists import (
    artist_archive,
    credit_set,
    job_training_record,
    training_preference_set,
)
from fairness.services.common import FairnessError
from fairness.services.consent import (
    consented_export,
    output_use_record,
    use_consent_withdraw,
    use_request_answer,
    use_request_create,
)
from fairness.services.retention import (
    legal_hold_place,
    legal_hold_release,
    output_delete,
    outputs_retention_sweep,
)
from fairness.services.threads import thread_move, thread_reply

__all__ = [
    "FairnessError",
    "appeal_decide",
    "appeal_file",
    "artist_archive",
    "consented_export",
    "credit_set",
    "job_training_record",
    "legal_hold_place",
    "legal_hold_release",
    "output_delete",
    "output_use_record",
    "outputs_retention_sweep",
    "thread_move",
    "thread_reply",
    "training_preference_set",
    "use_consent_withdraw",
    "use_request_answer",
    "use_request_create",
]
