"""Audit action names of the fairness app (see `access.audit`)."""

from access.audit import register

USE_REQUESTED = register("fairness.use.requested", "Use of an output requested")
USE_GRANTED = register("fairness.use.granted", "Use of an output granted")
USE_DECLINED = register("fairness.use.declined", "Use of an output declined")
USE_WITHDRAWN = register("fairness.use.withdrawn", "Consent to a use withdrawn")
USE_RECORDED = register("fairness.use.recorded", "Output used under consent")
USE_EXPORTED = register("fairness.use.exported", "Consented outputs exported")
TRAINING_PREFERENCE_SET = register("fairness.training.preference_set", "Training preference set")
CREDIT_SET = register("fairness.credit.set", "Credit changed")
APPEAL_FILED = register("fairness.appeal.filed", "Appeal filed")
APPEAL_UPHELD = register("fairness.appeal.upheld", "Appeal decided: decision upheld")
APPEAL_OVERTURNED = register("fairness.appeal.overturned", "Appeal decided: decision overturned")
THREAD_REPLIED = register("fairness.thread.replied", "Reply in a feedback thread")
THREAD_MOVED = register("fairness.thread.moved", "Feedback status changed")
PROGRAM_PAGE_CHANGED = register("fairness.program_page.changed", "Program page changed")
LEGAL_HOLD_PLACED = register("fairness.legal_hold.placed", "Legal hold placed")
LEGAL_HOLD_RELEASED = register("fairness.legal_hold.released", "Legal hold released")
