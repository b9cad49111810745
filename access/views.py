from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from access.models import Invitation
from access.selectors import SESSION_INVITATION_KEY, invitation_get_by_code
from access.services import STATUS_MESSAGES


@require_GET
def invitation_open(request: HttpRequest, code: str) -> HttpResponse:
    """Remember a usable invitation in the session and continue to signup; explain anything else."""
    invitation = invitation_get_by_code(code=code)
    if invitation is None:
        return _invitation_problem(request, "This invitation link is not valid.", status=404)
    if invitation.status != Invitation.Status.PENDING:
        return _invitation_problem(request, STATUS_MESSAGES[invitation.status], status=410)
    if request.user.is_authenticated:
        messages.info(request, "You are already signed in; the invitation was not used.")
        return redirect("studio")
    request.session[SESSION_INVITATION_KEY] = code
    return redirect("account_signup")


def _invitation_problem(request: HttpRequest, message: str, *, status: int) -> HttpResponse:
    return render(request, "access/invitation_problem.html", {"message": message}, status=status)
