"""Every state change of the access app, by concern.

- `invitations`: create (one or in bulk), resend, revoke, accept
- `terms`: publish, accept
- `tokens`: personal API tokens; `token_sharing`: detecting a token shared like a public front-end
- `sessions`: end a user's sessions
- `standing`: tester, cohort and program standing (the steps containment runs, and reinstatement)
- `common`: `AccessError`, the access-manager check and `audit_record`

Each function checks permission, changes state in one transaction, writes its audit entry in the
same transaction, and schedules side effects (email) with `transaction.on_commit`. The names below
are re-exported so callers write `from access.services import invitation_create`.
"""

from access.services.common import (
    MANAGE_ACCESS_PERMISSION,
    AccessError,
    audit_record,
    require_access_manager,
)
from access.services.invitations import (
    STATUS_MESSAGES,
    BulkResult,
    IssuedInvitation,
    invitation_accept,
    invitation_bulk_create,
    invitation_check_usable,
    invitation_create,
    invitation_resend,
    invitation_revoke,
)
from access.services.sessions import sessions_end, sessions_end_for
from access.services.standing import (
    cohort_reinstate,
    cohort_standing_suspend,
    containment_reason,
    program_resume,
    program_standing_pause,
    tester_reinstate,
    tester_standing_end,
)
from access.services.terms import terms_accept, terms_publish
from access.services.token_sharing import token_observe_use, token_suspend_for_sharing
from access.services.tokens import (
    STAFF_SCOPES,
    TOKEN_DEFAULT_DAYS,
    TOKEN_MAX_DAYS,
    IssuedToken,
    token_create,
    token_record_use,
    token_revoke,
    token_scopes_for,
    tokens_revoke_for,
)

__all__ = [
    "MANAGE_ACCESS_PERMISSION",
    "STAFF_SCOPES",
    "STATUS_MESSAGES",
    "TOKEN_DEFAULT_DAYS",
    "TOKEN_MAX_DAYS",
    "AccessError",
    "BulkResult",
    "IssuedInvitation",
    "IssuedToken",
    "audit_record",
    "cohort_reinstate",
    "cohort_standing_suspend",
    "containment_reason",
    "invitation_accept",
    "invitation_bulk_create",
    "invitation_check_usable",
    "invitation_create",
    "invitation_resend",
    "invitation_revoke",
    "program_resume",
    "program_standing_pause",
    "require_access_manager",
    "sessions_end",
    "sessions_end_for",
    "terms_accept",
    "terms_publish",
    "tester_reinstate",
    "tester_standing_end",
    "token_create",
    "token_observe_use",
    "token_record_use",
    "token_revoke",
    "token_scopes_for",
    "token_suspend_for_sharing",
    "tokens_revoke_for",
]
