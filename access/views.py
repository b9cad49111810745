from __future__ import annotations

import csv
import json
import sys
from itertools import chain

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Page, Paginator
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.templatetags.static import static
from django.urls import reverse
from django.views import defaults
from django.views.decorators.http import require_GET, require_POST, require_safe

from access import audit
from access.forms import (
    AuditFilterForm,
    BulkInvitationForm,
    ConfirmForm,
    ContainmentForm,
    InvitationForm,
    ReasonForm,
    TermsForm,
    TesterFilterForm,
    TokenForm,
    audit_action_choices,
)
from access.http import AuthenticatedHttpRequest, refused, require_safe_or_POST, safe_next_url
from access.middleware import outage_response
from access.models import ApiToken, Cohort, Invitation, Program, User
from access.roles import home_for
from access.selectors import (
    SESSION_INVITATION_KEY,
    audit_entries,
    client_ip,
    invitation_get_by_code,
    invitations_list,
    standing_prefetch,
    suspicious_tokens,
    terms_accepted_version,
    terms_current,
    testers_search,
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
from containment.selectors import containment_impact, tester_activity
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


@require_safe_or_POST
@login_required
def token_revoke_view(request: AuthenticatedHttpRequest, token_id: int) -> HttpResponse:
    """Revoking a token is confirmed first: a GET, or a POST without `confirm`, shows what stops
    working; only the confirmed POST revokes."""
    token = get_object_or_404(ApiToken, pk=token_id)
    if token.user_id != request.user.id and not request.user.has_perm(MANAGE_ACCESS_PERMISSION):
        raise Http404  # someone else's token looks exactly like no token: ids disclose nothing
    back = _next_url(request, "/tokens/")
    if token.revoked_at is not None:
        messages.info(request, f"Token {token.name!r} was already revoked.")
        return redirect(back)
    form = ConfirmForm(request.POST if request.method == "POST" else None)
    if not form.is_bound or not (form.is_valid() and form.cleaned_data["confirm"]):
        return render(request, "access/token_revoke.html", {"token": token, "next": back})
    token_revoke(token=token, by=request.user)
    messages.success(request, f"Token {token.name!r} revoked: it no longer works anywhere.")
    return redirect(back)


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
    context: dict = {"single": single, "bulk": bulk}
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
        context.update(_bulk_outcome(request, bulk, result))
    context["invitations"] = invitations_list()[:500]
    refused = bulk.is_bound and not bulk.is_valid()  # e.g. too many lines: the page says which
    return render(request, "access/staff_invitations.html", context, status=400 if refused else 200)


def _bulk_outcome(request: AuthenticatedHttpRequest, bulk: BulkInvitationForm, result) -> dict:
    """The page after a bulk invite: the links made, and the failed lines back in the box to
    correct and send again (the page is rendered, not redirected: the links are shown once)."""
    people = len(result.issued)
    invited = f"Invited {people} {'person' if people == 1 else 'people'}"
    if failed := len(result.errors):
        # One banner; each failed line is named once, in the list next to the box.
        lines = "1 line" if failed == 1 else f"{failed} lines"
        messages.warning(
            request, f"{invited}; {lines} could not be invited: see the list by the box below."
        )
    else:
        messages.success(request, f"{invited}.")
    retry = BulkInvitationForm(
        initial={"lines": "\n".join(result.failed_lines), "cohort": bulk.cleaned_data["cohort"]}
    )
    return {
        "bulk": retry,
        "bulk_done": True,
        "bulk_issued": result.issued,
        "bulk_errors": result.errors,
    }


INVITATION_ACTIONS = ("resend", "revoke")
TESTER_ACTIONS = ("suspend", "revoke", "reinstate", "end-sessions")
CONFIRMED_TESTER_ACTIONS = ("suspend", "revoke")
TESTERS_PAGE_SIZE = 100


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
    """Testers, searchable, with their jobs and reviews. Invalid filters are named on the page
    (400), never silently dropped."""
    form = TesterFilterForm(request.GET)
    valid = form.is_valid()
    data = form.cleaned_data if valid else {}
    matching = testers_search(query=data.get("q") or "", standing=data.get("standing") or "")
    if not valid:
        matching = matching.none()  # the page names what was wrong instead of listing everyone
    page = Paginator(matching, TESTERS_PAGE_SIZE).get_page(data.get("page"))
    if valid and not _page_exists(form, page):
        valid, page.object_list = False, []
    testers = standing_prefetch(list(page))
    activity = tester_activity(tester_ids=[tester.pk for tester in testers])
    rows = [(tester, activity[tester.pk]) for tester in testers]
    return render(
        request,
        "access/staff_testers.html",
        {"form": form, "page": page, "testers": testers, "rows": rows},
        status=200 if valid else 400,
    )


@require_safe_or_POST
@login_required
@staff_required
def staff_tester_action(
    request: AuthenticatedHttpRequest, user_id: int, action: str
) -> HttpResponse:
    if action not in TESTER_ACTIONS:
        raise Http404("No such action.")
    tester = get_object_or_404(User, pk=user_id, is_staff=False)
    if request.method != "POST" and action not in CONFIRMED_TESTER_ACTIONS:
        return HttpResponseNotAllowed(["POST"])
    form = ReasonForm(request.POST or None)
    if form.is_bound and not form.is_valid():
        return refused(request, form)
    confirmed = form.is_bound and form.cleaned_data["confirm"]
    if action in CONFIRMED_TESTER_ACTIONS and not confirmed:
        return _confirm_tester_action(request, tester, action, form)
    reason = form.cleaned_data["reason"] if form.is_bound else ""
    try:
        _tester_act(request, tester, action, reason)
    except AccessError as exc:
        if action in CONFIRMED_TESTER_ACTIONS and not reason.strip():
            return _confirm_tester_action(request, tester, action, form, error=str(exc))
        messages.error(request, str(exc))
    return redirect("staff_testers")


def _tester_act(request: AuthenticatedHttpRequest, tester: User, action: str, reason: str) -> None:
    if action in CONFIRMED_TESTER_ACTIONS:
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


CONFIRM_WORDS = {
    "suspend": ("Suspend", "Suspending can be undone: Reinstate gives access back."),
    "revoke": ("Revoke", "Revoking is final: their API tokens are revoked too."),
    "pause": ("Pause the program", "Resuming lets testers sign in again."),
    "suspend-cohort": ("Suspend", "Reinstating the cohort lets its testers sign in again."),
}


def _confirm_tester_action(
    request: AuthenticatedHttpRequest,
    tester: User,
    action: str,
    form: ReasonForm,
    *,
    error: str = "",
) -> HttpResponse:
    verb, note = CONFIRM_WORDS[action]
    return _confirm_page(
        request,
        title=f"{verb} {tester.email}?",
        impact=lambda: containment_impact(scope="tester", target=tester, revoke=action == "revoke"),
        note=note,
        button=f"{verb} {tester.email}",
        action_url=reverse("staff_tester_action", args=[tester.pk, action]),
        cancel_url=reverse("staff_testers"),
        reason=form.cleaned_data.get("reason", "") if form.is_bound else "",
        error=error,
    )


def _confirm_page(
    request: AuthenticatedHttpRequest, *, impact, error: str, **words
) -> HttpResponse:
    """The confirm step of a dangerous action: its impact first, then one reason and a distinct
    button that performs it. Nothing was done to get here."""
    try:
        computed, refusal = impact(), ""
    except AccessError as exc:
        computed, refusal = None, str(exc)
    context = {"impact": computed, "refusal": refusal, "error": error, **words}
    status = 400 if error else 409 if refusal else 200
    return render(request, "access/staff_confirm.html", context, status=status)


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
    """One page for the three scopes: the program kill switch, cohorts, and (via Testers) people.
    Pausing and suspending a cohort show their impact first and act only when confirmed."""
    if request.method == "POST":
        form = ContainmentForm(request.POST)
        if not form.is_valid():
            return refused(request, form)
        action = form.cleaned_data["action"]
        if action in ContainmentForm.ENDING_ACTIONS and not form.cleaned_data["confirm"]:
            return _confirm_containment(request, form)
        if action in ContainmentForm.ENDING_ACTIONS and not form.cleaned_data["reason"].strip():
            return _confirm_containment(request, form, error=REASON_REQUIRED)
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


REASON_REQUIRED = "A reason is required: it is shown to the people affected and audited."


def _confirm_containment(
    request: AuthenticatedHttpRequest, form: ContainmentForm, *, error: str = ""
) -> HttpResponse:
    action, cohort = form.cleaned_data["action"], form.cleaned_data["cohort"]
    note = CONFIRM_WORDS[action][1]
    if action == "pause":
        title, button = "Pause the whole program?", "Pause the program"
        hidden = {"action": action}
    else:
        title, button = f"Suspend the cohort {cohort.name}?", f"Suspend {cohort.name}"
        hidden = {"action": action, "cohort": cohort.pk}
    scope, target = ("program", None) if action == "pause" else ("cohort", cohort)
    return _confirm_page(
        request,
        title=title,
        impact=lambda: containment_impact(scope=scope, target=target),
        note=note,
        button=button,
        action_url=reverse("staff_containment"),
        cancel_url=reverse("staff_containment"),
        reason=form.cleaned_data["reason"],
        hidden=hidden,
        error=error,
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
            messages.success(request, "Program resumed: testers can sign in again.")
        elif action in ContainmentForm.COHORT_ACTIONS:
            cohort = form.cleaned_data["cohort"]
            if action == "suspend-cohort":
                report = cohort_suspend(cohort=cohort, by=request.user, reason=reason)
                messages.success(request, f"{cohort.name} suspended. {_ended(report)}")
            else:
                cohort_reinstate(cohort=cohort, by=request.user)
                messages.success(
                    request, f"{cohort.name} reinstated: its testers can sign in again."
                )
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
        if request.GET.get("format") == "csv":
            return refused(request, form)
        # A filter that names nothing is reported on the page, never quietly dropped.
        return render(
            request, "access/staff_audit.html", _audit_context(form, None, {}), status=400
        )
    filters = form.filters()
    entries = audit_entries(**filters)
    if form.cleaned_data["format"] == "csv":
        return _audit_csv(entries)
    page = Paginator(entries, AUDIT_PAGE_SIZE).get_page(form.cleaned_data["page"])
    if not _page_exists(form, page):
        return render(
            request, "access/staff_audit.html", _audit_context(form, None, filters), status=400
        )
    return render(request, "access/staff_audit.html", _audit_context(form, page, filters))


def _page_exists(form: forms.Form, page: Page) -> bool:
    """Whether the asked `page` number is a page; if not, the form's `page` field says so (a
    page past the end is named on the page, as the studio does, never quietly swapped)."""
    asked = form.cleaned_data.get("page")
    if asked is None or asked <= page.paginator.num_pages:
        return True
    form.add_error("page", f"There is no page {asked}; the last is {page.paginator.num_pages}.")
    return False


def _audit_context(form: AuditFilterForm, page, filters: dict[str, str]) -> dict:
    rows = [
        (entry, audit.label_of(entry.action), _readable(entry.details))
        for entry in (page if page is not None else [])
    ]
    return {
        "form": form,
        "page": page,
        "rows": rows,
        "filters": filters,
        "action_choices": audit_action_choices(),
    }


def _readable(details: object) -> list[tuple[str, str]]:
    """An entry's details as key/value pairs a person reads: "Sessions ended: 3"."""
    if not isinstance(details, dict):
        return [("Details", str(details))] if details else []
    return [
        (str(key).replace("_", " ").capitalize(), _readable_value(value))
        for key, value in details.items()
    ]


def _readable_value(value: object) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value) or "—"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


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


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """`/`: each role's first page (the one it lands on after signing in); the sign-in page for a
    visitor, by way of the studio's login requirement."""
    return redirect(home_for(request.user))


@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico when a page names no icon (the API docs, a bare error)."""
    return redirect(static("favicon.svg"))
