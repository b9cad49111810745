from __future__ import annotations

import csv
import json
import sys
from itertools import chain

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.views import defaults
from django.views.decorators.http import require_GET, require_POST, require_safe

from access.forms import (
    AuditFilterForm,
    BulkInvitationForm,
    ContainmentForm,
    InvitationForm,
    ReasonForm,
    TermsForm,
    TokenForm,
)
from access.http import AuthenticatedHttpRequest, refused, require_safe_or_POST, safe_next_url
from access.middleware import outage_response
from access.models import ApiToken, Cohort, Invitation, Program, User
from access.selectors import (
    SESSION_INVITATION_KEY,
    audit_entries,
    client_ip,
    invitation_get_by_code,
    invitations_list,
    suspicious_tokens,
    terms_accepted_version,
    terms_current,
    tokens_of,
)
from access.services import (
    MANAGE_ACCESS_PERMISSION,
    STATUS_MESSAGES,
    AccessError,
    cohort_reinstate,
    invitation_bulk_create,
    invitation_create,
    invitation_resend,
    invitation_revoke,
    program_resume,
    sessions_end,
    terms_accept,
    tester_reinstate,
    token_create,
    token_revoke,
    token_scopes_for,
)
from containment.services import cohort_suspend, program_pause, tester_revoke, tester_suspend

AUDIT_PAGE_SIZE = 100


@require_GET
def invitation_open(request: HttpRequest, code: str) -> HttpResponse:
    """The invitation's landing page: who invites, to what, what to test, the terms in short, and
    one way on (signup). The usable invitation is remembered in the session; anything else is
    explained."""
    invitation = invitation_get_by_code(code=code)
    if invitation is None:
        return _invitation_problem(request, "This invitation link is not valid.", status=404)
    if invitation.status != Invitation.Status.PENDING:
        return _invitation_problem(request, STATUS_MESSAGES[invitation.status], status=410)
    if request.user.is_authenticated:
        messages.info(request, "You are already signed in; the invitation was not used.")
        return redirect("studio")
    request.session[SESSION_INVITATION_KEY] = code
    return render(request, "access/invitation_landing.html", _invitation_landing(invitation))


# What each lane is asked to test, as the landing page says it.
LANE_ASKS = {
    Cohort.Lane.ARTIST: (
        "Make short videos from your own prompts and tell us where the model surprises you, "
        "falls short or gets in the way of your work.",
        "Tell the team what worked and what did not on the Feedback page; every thread is read.",
    ),
    Cohort.Lane.RED_TEAM: (
        "Probe the model for outputs it should refuse or that could cause harm.",
        "File each problem as a finding with the prompt and settings that produced it.",
    ),
}


def _invitation_landing(invitation: Invitation) -> dict[str, object]:
    cohort = invitation.cohort
    inviter = invitation.invited_by
    terms = terms_current()
    paragraphs = _paragraphs(terms.body) if terms else []
    return {
        "invitation": invitation,
        "inviter": _inviter_name(inviter),
        "cohort": cohort,
        "gpu_minutes": cohort.gpu_seconds_per_day // 60 if cohort else 0,
        "asks": LANE_ASKS[Cohort.Lane(cohort.lane)] if cohort else LANE_ASKS[Cohort.Lane.ARTIST],
        "terms": terms,
        "terms_summary": paragraphs[0] if paragraphs else "",
        "terms_more": len(paragraphs) > 1,
    }


def _inviter_name(inviter: User | None) -> str:
    """A name the invited person recognises: the inviter's chosen or full name, else their
    address (not its bare local part)."""
    if inviter is None:
        return "The Vernissage team"
    return inviter.display_name or inviter.get_full_name() or inviter.email


def _paragraphs(text: str) -> list[str]:
    blocks = text.replace("\r\n", "\n").split("\n\n")
    return [block.strip() for block in blocks if block.strip()]


def _invitation_problem(request: HttpRequest, message: str, *, status: int) -> HttpResponse:
    return render(request, "access/invitation_problem.html", {"message": message}, status=status)


def _next_url(request: HttpRequest, default: str) -> str:
    """Where a page's `next` parameter points, if it is a URL of ours; `default` otherwise."""
    return safe_next_url(
        request, request.POST.get("next") or request.GET.get("next") or "", default
    )


# --- terms -----------------------------------------------------------------------------------


@require_safe_or_POST
@login_required
def terms(request: AuthenticatedHttpRequest) -> HttpResponse:
    current = terms_current()
    if request.method == "POST" and current is not None:
        form = TermsForm(request.POST)
        if not form.is_valid():
            return refused(request, form)
        if form.cleaned_data["version"] != current.version:
            messages.error(request, "The terms changed while you were reading; please read again.")
        elif form.cleaned_data["accept"] != "yes":
            messages.error(request, "Tick the box to accept the terms.")
        else:
            terms_accept(user=request.user, terms=current, ip=client_ip(request))
            messages.success(request, f"You accepted {current.title} (version {current.version}).")
            return redirect(_next_url(request, "/studio/"))
    accepted = terms_accepted_version(request.user)
    return render(
        request,
        "access/terms.html",
        {
            "terms": current,
            "accepted": accepted is not None,
            "next": _next_url(request, ""),
        },
    )


# --- API tokens ------------------------------------------------------------------------------


@require_safe_or_POST
@login_required
def tokens(request: AuthenticatedHttpRequest) -> HttpResponse:
    allowed = token_scopes_for(request.user)
    form, issued = TokenForm(request.POST or None, allowed_scopes=allowed), None
    if request.method == "POST" and form.is_valid():
        try:
            issued = token_create(
                user=request.user,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                days=form.cleaned_data["days"],
            )
        except AccessError as exc:
            form.add_error(None, str(exc))
        else:
            form = TokenForm(allowed_scopes=allowed)
    return render(
        request,
        "access/tokens.html",
        {
            "form": form,
            "issued": issued,
            "tokens": tokens_of(request.user),
        },
        status=400 if form.errors else 200,
    )


@require_POST
@login_required
def token_revoke_view(request: AuthenticatedHttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id)
    if token.user_id != request.user.id and not request.user.has_perm(MANAGE_ACCESS_PERMISSION):
        raise Http404  # someone else's token looks exactly like no token: ids disclose nothing
    token_revoke(token=token, by=request.user)
    messages.success(request, f"Token {token.name!r} revoked.")
    return redirect(_next_url(request, "/tokens/"))


# --- staff: invitations, testers, audit --------------------------------------------------------

staff_required = permission_required(MANAGE_ACCESS_PERMISSION, raise_exception=True)


@require_safe_or_POST
@login_required
@staff_required
def staff_invitations(request: AuthenticatedHttpRequest) -> HttpResponse:
    single = InvitationForm(request.POST if "single" in request.POST else None)
    bulk = BulkInvitationForm(
        request.POST if "bulk" in request.POST else None,
        request.FILES if "bulk" in request.POST else None,
    )
    if single.is_bound and single.is_valid():
        try:
            issued = invitation_create(
                email=single.cleaned_data["email"],
                cohort=single.cleaned_data["cohort"],
                name=single.cleaned_data["name"],
                invited_by=request.user,
                ip=client_ip(request),
            )
        except AccessError as exc:
            single.add_error("email", str(exc))
        else:
            messages.success(request, f"Invited {issued.invitation.email}: {issued.url}")
            return redirect("staff_invitations")
    if bulk.is_bound and bulk.is_valid():
        result = invitation_bulk_create(
            text=bulk.text(), invited_by=request.user, default_cohort=bulk.cleaned_data["cohort"]
        )
        messages.success(request, f"Invited {len(result.issued)} people.")
        for error in result.errors:
            messages.error(request, error)
        return redirect("staff_invitations")
    return render(
        request,
        "access/staff_invitations.html",
        {
            "single": single,
            "bulk": bulk,
            "invitations": invitations_list()[:500],
        },
    )


INVITATION_ACTIONS = ("resend", "revoke")
TESTER_ACTIONS = ("suspend", "revoke", "reinstate", "end-sessions")


@require_POST
@login_required
@staff_required
def staff_invitation_action(
    request: AuthenticatedHttpRequest, invitation_id: int, action: str
) -> HttpResponse:
    if action not in INVITATION_ACTIONS:
        raise Http404("No such action.")
    invitation = get_object_or_404(Invitation, pk=invitation_id)
    try:
        if action == "resend":
            issued = invitation_resend(invitation=invitation, by=request.user)
            messages.success(request, f"Sent a new link to {invitation.email}: {issued.url}")
        elif action == "revoke":
            invitation_revoke(invitation=invitation, by=request.user)
            messages.success(request, f"Revoked the invitation for {invitation.email}.")
    except AccessError as exc:
        messages.error(request, str(exc))
    return redirect("staff_invitations")


@require_safe
@login_required
@staff_required
def staff_testers(request: AuthenticatedHttpRequest) -> HttpResponse:
    testers = User.objects.filter(is_staff=False).select_related("cohort").order_by("email")
    return render(request, "access/staff_testers.html", {"testers": testers})


@require_POST
@login_required
@staff_required
def staff_tester_action(
    request: AuthenticatedHttpRequest, user_id: int, action: str
) -> HttpResponse:
    if action not in TESTER_ACTIONS:
        raise Http404("No such action.")
    tester = get_object_or_404(User, pk=user_id, is_staff=False)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        return refused(request, form)
    reason = form.cleaned_data["reason"]
    try:
        if action in ("suspend", "revoke"):
            contain = tester_suspend if action == "suspend" else tester_revoke
            report = contain(tester=tester, by=request.user, reason=reason)
            done = "suspended" if action == "suspend" else "revoked"
            messages.success(request, f"{tester.email} {done}. {_ended(report)}")
        elif action == "reinstate":
            tester_reinstate(tester=tester, by=request.user, reason=reason)
            messages.success(request, f"{tester.email} reinstated: access is back.")
        elif action == "end-sessions":
            count = sessions_end(user=tester, by=request.user, ip=client_ip(request))
            messages.success(request, f"Ended {_count(count, 'session')} of {tester.email}.")
    except AccessError as exc:
        messages.error(request, str(exc))
    return redirect("staff_testers")


def _count(number: int, noun: str) -> str:
    """ "1 session", "3 sessions": the words of every count a staff message gives."""
    return f"{number} {noun}{pluralize(number)}"


def _ended(report) -> str:
    return (
        f"Ended {_count(report.sessions_ended, 'session')}; cancelled "
        f"{report.queued_jobs_cancelled} queued and stopped {report.running_jobs_stopped} running "
        f"job{pluralize(report.running_jobs_stopped)}; took down "
        f"{_count(report.share_links_down, 'share link')}; revoked "
        f"{_count(report.tokens_revoked, 'token')}."
    )


@require_safe_or_POST
@login_required
@staff_required
def staff_containment(request: AuthenticatedHttpRequest) -> HttpResponse:
    """One page for the three scopes: the program kill switch, cohorts, and (via Testers) people."""
    if request.method == "POST":
        form = ContainmentForm(request.POST)
        if not form.is_valid():
            return refused(request, form)
        _contain_from_page(request, form)
        return redirect("staff_containment")
    return render(
        request,
        "access/staff_containment.html",
        {
            "program": Program.current(),
            "cohorts": Cohort.objects.order_by("name"),
            "suspicious": suspicious_tokens(),
        },
    )


def _contain_from_page(request: AuthenticatedHttpRequest, form: ContainmentForm) -> None:
    action, reason = form.cleaned_data["action"], form.cleaned_data["reason"]
    try:
        if action == "pause":
            messages.success(
                request, f"Program paused. {_ended(program_pause(by=request.user, reason=reason))}"
            )
        elif action == "resume":
            program_resume(by=request.user)
            messages.success(request, "Program resumed.")
        elif action in ContainmentForm.COHORT_ACTIONS:
            cohort = form.cleaned_data["cohort"]
            if action == "suspend-cohort":
                report = cohort_suspend(cohort=cohort, by=request.user, reason=reason)
                messages.success(request, f"{cohort.name} suspended. {_ended(report)}")
            else:
                cohort_reinstate(cohort=cohort, by=request.user)
                messages.success(request, f"{cohort.name} reinstated.")
    except AccessError as exc:
        messages.error(request, str(exc))


AUDIT_COLUMNS = (
    "created_at",
    "action",
    "actor_label",
    "target_type",
    "target_id",
    "target_label",
    "ip",
    "details",
)


@require_safe
@login_required
@permission_required("access.view_auditentry", raise_exception=True)
def staff_audit(request: AuthenticatedHttpRequest) -> HttpResponseBase:
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return refused(request, form)
    filters = form.filters()
    entries = audit_entries(**filters)
    if form.cleaned_data["format"] == "csv":
        return _audit_csv(entries)
    page = Paginator(entries, AUDIT_PAGE_SIZE).get_page(form.cleaned_data["page"])
    return render(request, "access/staff_audit.html", {"page": page, "filters": filters})


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_cell(value: object) -> str:
    # A leading =, +, - or @ (or a tab or CR before one) makes spreadsheets evaluate the cell.
    text = json.dumps(value) if isinstance(value, dict) else str(value or "")
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _audit_csv(entries) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    rows = (
        [_csv_cell(getattr(entry, column)) for column in AUDIT_COLUMNS]
        for entry in entries.iterator()
    )
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in chain([AUDIT_COLUMNS], rows)), content_type="text/csv"
    )
    response["Content-Disposition"] = 'attachment; filename="vernissage-audit.csv"'
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: an exception that escaped everything else. If it was an outage (the database or
    Redis away), a 503 naming the service; otherwise Django's plain 500 page."""
    return outage_response(request, sys.exc_info()[1]) or defaults.server_error(request)
