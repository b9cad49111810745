"""Every state change of the review app, by concern.

- `moderation`: register outputs, claims, decisions (approve, reject, needs changes, withdraw,
  bulk), integrity of approved files
- `sharing`: share links, the gallery opt-in, containment's count of links taken down
- `findings`: red-team findings, feedback, notification preferences
- `undo`: a reviewer takes their own decision back within a few seconds
- `tester_notes`: reviewers' private note on a tester
"""

from access.roles import MODERATE_PERMISSION, can_moderate
from review.services.common import NOTE_MAX_CHARS, ReviewError
from review.services.files import output_files_registered, output_files_sweep
from review.services.findings import (
    FINDING_NEXT,
    feedback_submit,
    finding_file,
    finding_move,
    notification_preference_set,
)
from review.services.marked_copies import share_link_poster_name, share_link_video_name
from review.services.moderation import (
    BulkOutcome,
    approvals_required_for,
    file_sha256,
    output_approve,
    output_claim,
    output_erase,
    output_overturn,
    output_register,
    output_reject,
    output_release,
    output_request_changes,
    output_verify_integrity,
    output_withdraw,
    outputs_bulk_decide,
)
from review.services.sharing import (
    output_set_gallery,
    share_link_create,
    share_link_record_view,
    share_link_revoke,
    share_links_down_for,
)
from review.services.tester_notes import may_have_note, tester_note_set
from review.services.undo import output_decision_undo, undo_window

__all__ = [
    "FINDING_NEXT",
    "MODERATE_PERMISSION",
    "NOTE_MAX_CHARS",
    "BulkOutcome",
    "ReviewError",
    "approvals_required_for",
    "can_moderate",
    "feedback_submit",
    "file_sha256",
    "finding_file",
    "finding_move",
    "may_have_note",
    "notification_preference_set",
    "output_approve",
    "output_claim",
    "output_decision_undo",
    "output_erase",
    "output_files_registered",
    "output_files_sweep",
    "output_overturn",
    "output_register",
    "output_reject",
    "output_release",
    "output_request_changes",
    "output_set_gallery",
    "output_verify_integrity",
    "output_withdraw",
    "outputs_bulk_decide",
    "share_link_create",
    "share_link_poster_name",
    "share_link_record_view",
    "share_link_revoke",
    "share_link_video_name",
    "share_links_down_for",
    "tester_note_set",
    "undo_window",
]
