from __future__ import annotations

import hashlib

from django.http import HttpRequest

from access.models import Invitation

SESSION_INVITATION_KEY = "vernissage_invitation_code"


def invitation_code_digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def invitation_get_by_code(*, code: str) -> Invitation | None:
    if not code or len(code) > 200:
        return None
    return Invitation.objects.filter(code_digest=invitation_code_digest(code)).first()


def invitation_from_session(request: HttpRequest) -> Invitation | None:
    """The invitation the visitor opened in this browser session, if it is still usable."""
    invitation = invitation_get_by_code(code=request.session.get(SESSION_INVITATION_KEY, ""))
    if invitation is None or invitation.status != Invitation.Status.PENDING:
        return None
    return invitation
