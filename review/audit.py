"""Audit action names of the review app (see `access.audit`)."""

from access.audit import register

APPROVAL_RECORDED = register("review.output.approval_recorded", "Approval recorded")
APPROVAL_VOIDED = register("review.output.approval_voided", "Approval voided (file changed)")
OUTPUT_APPROVED = register("review.output.approved", "Output approved")
OUTPUT_REJECTED = register("review.output.rejected", "Output rejected")
OUTPUT_CHANGES_REQUESTED = register("review.output.changes_requested", "Changes requested")
OUTPUT_OVERTURNED = register("review.output.overturned", "Decision overturned on appeal")
OUTPUT_ERASED = register("review.output.erased", "Output deleted (files erased, trace kept)")
OUTPUT_WITHDRAWN = register("review.output.withdrawn", "Approval withdrawn")
SHARE_LINK_CREATED = register("review.share_link.created", "Share link created")
SHARE_LINK_REVOKED = register("review.share_link.revoked", "Share link revoked")
FINDING_FILED = register("review.finding.filed", "Finding filed")
FINDING_MOVED = {
    "triaged": register("review.finding.triaged", "Finding triaged"),
    "resolved": register("review.finding.resolved", "Finding resolved"),
}
OUTPUT_DECISION_UNDONE = register(
    "review.output.decision_undone", "Decision undone by its reviewer"
)
TESTER_NOTE_SET = register("review.tester_note.set", "Reviewers' note on a tester updated")
