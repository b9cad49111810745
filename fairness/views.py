"""The artist's page (consent, appeals, review transparency, credit, archive), and the staff
pages for use requests, the consented export and appeals. Thin doors into `fairness.services`."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from access.http import AuthenticatedHttpRequest, refused, require_safe_or_POST
from access.models import User
from access.roles import can_moderate, can_place_legal_hold, can_request_use
from fairness.forms import (
    AppealDecisionForm,
    AppealForm,
    ArtistSettingsForm,
    DeleteForm,
    ExportForm,
    LegalHoldForm,
    ReplyForm,
    ThreadStatusForm,
    UseAnswerForm,
    UseRecordForm,
    UseRequestForm,
)
from fairness.models import LegalHold, ProgramPage, Purpose
from fairness.selectors import (
    artist_outputs,
    artist_stats,
    feedback_visible_to,
    median_decision_seconds,
    open_appeals,
    queue_positions,
    terms_diff,
    terms_of,
    thread_items_of,
    training_opted_in,
    use_requests_for_staff,
    use_requests_of_artist,
)
from fairness.services import (
    FairnessError,
    appeal_decide,
    appeal_file,
    artist_archive,
    consented_export,
    credit_set,
    legal_hold_place,
    legal_hold_release,
    output_delete,
    output_use_record,
    thread_move,
    thread_reply,
    training_preference_set,
    use_consent_withdraw,
    use_request_answer,
    use_request_create,
)
from review.models import Feedback, Finding, Output
from review.selectors import findings_visible_to

ARTIST_PAGE_OUTPUTS = 100
STAFF_PAGE_REQUESTS = 200


# --- the artist's side -----------------------------------------------------------------------


@require_safe
@login_required
def artist_home(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    outputs = list(artist_outputs(user)[:ARTIST_PAGE_OUTPUTS])
    positions = queue_positions(outputs)
    for output in outputs:
        output.queue_position = positions.get(output.id)  # type: ignore[attr-defined]
    settings_form = ArtistSettingsForm(
        initial={
            "training_opt_in": training_opted_in(user.id),
            "credit_name": user.display_name,
            "credit_url": user.credit_url,
        }
    )
    return render(
        request,
        "fairness/artist.html",
        {
            "outputs": outputs,
            "median": _duration(median_decision_seconds()),
            "stats": artist_stats(user),
            "requests": use_requests_of_artist(user),
            "settings_form": settings_form,
            "appeal_form": AppealForm(),
        },
    )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes = round(seconds / 60)
    if minutes < 1:
        return f"{round(seconds)} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


@require_POST
@login_required
def artist_settings(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = ArtistSettingsForm(request.POST)
    if not form.is_valid():
        return refused(request, form)
    data, user = form.cleaned_data, request.user
    try:
        if (data["credit_name"], data["credit_url"]) != (user.display_name, user.credit_url):
            credit_set(user=user, name=data["credit_name"], url=data["credit_url"])
    except FairnessError as exc:
        form.add_error("credit_url", str(exc))
        return refused(request, form)
    if data["training_opt_in"] != training_opted_in(request.user.id):
        training_preference_set(user=request.user, opted_in=data["training_opt_in"])
    messages.success(request, "Saved.")
    return redirect("artist_home")


@require_POST
@login_required
def use_answer(request: AuthenticatedHttpRequest, use_request_id: int) -> HttpResponse:
    use_request = get_object_or_404(use_requests_of_artist(request.user), pk=use_request_id)
    form = UseAnswerForm(request.POST)
    if not form.is_valid():
        return refused(request, form)
    answer = form.cleaned_data["answer"]
    try:
        if answer == "withdraw":
            use_consent_withdraw(request=use_request, by=request.user)
        else:
            use_request_answer(request=use_request, by=request.user, grant=answer == "grant")
    except FairnessError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{use_request.get_purpose_display()}: {answer} recorded.")
    return redirect("artist_home")


@require_POST
@login_required
def output_appeal(request: AuthenticatedHttpRequest, output_id) -> HttpResponse:
    output = Output.objects.filter(id=output_id, job__owner=request.user).first()
    if output is None:
        raise Http404("No such output.")
    form = AppealForm(request.POST)
    if not form.is_valid():
        return refused(request, form)
    try:
        appeal_file(output=output, by=request.user, note=form.cleaned_data["note"])
    except FairnessError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Appeal filed; another reviewer will decide it.")
    return redirect("artist_home")


@require_POST
@login_required
def delete_output(request: AuthenticatedHttpRequest, output_id) -> HttpResponse:
    output = Output.objects.filter(id=output_id, job__owner=request.user).first()
    if output is None:
        raise Http404("No such output.")
    form = DeleteForm(request.POST)
    if not form.is_valid():
        return refused(request, form)
    try:
        output_delete(output=output, by=request.user)
    except FairnessError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            "Deleted: the video, its poster and its share links are gone. The record that you "
            "made it (id, job, prompt, file fingerprint) stays in the audit log, so that a leak "
            "can still be traced.",
        )
    return redirect("artist_home")


@require_safe
@login_required
def archive(request: AuthenticatedHttpRequest) -> FileResponse:
    return FileResponse(
        artist_archive(user=request.user),
        as_attachment=True,
        filename="vernissage-archive.zip",
        content_type="application/zip",
    )


@require_safe
@login_required
def program(request: AuthenticatedHttpRequest) -> HttpResponse:
    """What the program is and gives, the terms (with what changed since the version the artist
    accepted), and what happens to outputs."""
    current, accepted = terms_of(request.user)
    cohort = request.user.cohort
    changed = current is not None and accepted is not None and accepted.pk != current.pk
    return render(
        request,
        "fairness/program.html",
        {
            "page": ProgramPage.current(),
            "terms": current,
            "accepted": accepted,
            "diff": terms_diff(accepted.body, current.body)
            if changed and accepted and current
            else [],
            "changed": changed,
            "retention_days": cohort.retention_days if cohort else None,
        },
    )


# --- staff: use requests and the consented export ------------------------------------------------


def _staff_required(request: AuthenticatedHttpRequest) -> None:
    if not can_request_use(request.user):
        raise PermissionDenied("This page is for staff who manage the program.")


@require_safe_or_POST
@login_required
def staff_uses(request: AuthenticatedHttpRequest) -> HttpResponse:
    _staff_required(request)
    if request.method == "POST":
        form = UseRequestForm(request.POST)
        if not form.is_valid():
            return refused(request, form)
        output = Output.objects.filter(id=form.cleaned_data["output"]).select_related("job").first()
        if output is None:
            form.add_error("output", "No output with this id.")
            return refused(request, form)
        try:
            use_request_create(
                output=output,
                purpose=form.cleaned_data["purpose"],
                message=form.cleaned_data["message"],
                by=request.user,
            )
        except FairnessError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Request sent to the artist.")
        return redirect("staff_uses")
    return render(
        request,
        "fairness/staff_uses.html",
        {
            "requests": use_requests_for_staff()[:STAFF_PAGE_REQUESTS],
            "form": UseRequestForm(),
            "purposes": Purpose.choices,
        },
    )


@require_POST
@login_required
def staff_use_record(request: AuthenticatedHttpRequest, use_request_id: int) -> HttpResponse:
    _staff_required(request)
    use_request = get_object_or_404(use_requests_for_staff(), pk=use_request_id)
    form = UseRecordForm(request.POST)
    if not form.is_valid():
        return refused(request, form)
    try:
        output_use_record(request=use_request, by=request.user, note=form.cleaned_data["note"])
    except FairnessError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Use recorded.")
    return redirect("staff_uses")


@require_POST
@login_required
def staff_uses_export(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A POST: every exported row is recorded as a use of its output."""
    _staff_required(request)
    form = ExportForm(request.POST)
    if not form.is_valid():
        return refused(request, form)
    purpose = form.cleaned_data["purpose"]
    response = HttpResponse(
        consented_export(purpose=purpose, by=request.user), content_type="text/csv"
    )
    response["Content-Disposition"] = f'attachment; filename="vernissage-{purpose}.csv"'
    return response


# --- staff: legal holds -----------------------------------------------------------------------


def _holds_staff_required(request: AuthenticatedHttpRequest) -> None:
    if not can_place_legal_hold(request.user):
        raise PermissionDenied("This page is for staff who manage access.")


@require_safe_or_POST
@login_required
def staff_holds(request: AuthenticatedHttpRequest) -> HttpResponse:
    _holds_staff_required(request)
    if request.method == "POST":
        form = LegalHoldForm(request.POST)
        if not form.is_valid():
            return refused(request, form)
        tester = User.objects.filter(email__iexact=form.cleaned_data["tester"]).first()
        if tester is None:
            form.add_error("tester", "Nobody has this email address.")
            return refused(request, form)
        try:
            legal_hold_place(tester=tester, by=request.user, reason=form.cleaned_data["reason"])
        except FairnessError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Deletion of {tester.email}'s videos is paused.")
        return redirect("staff_holds")
    holds = LegalHold.objects.select_related("tester", "placed_by", "released_by")
    return render(
        request, "fairness/staff_holds.html", {"holds": holds[:200], "form": LegalHoldForm()}
    )


@require_POST
@login_required
def staff_hold_release(request: AuthenticatedHttpRequest, legal_hold_id: int) -> HttpResponse:
    _holds_staff_required(request)
    hold = get_object_or_404(LegalHold, pk=legal_hold_id)
    try:
        legal_hold_release(hold=hold, by=request.user)
    except FairnessError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Hold released.")
    return redirect("staff_holds")


# --- reviewers: appeals ------------------------------------------------------------------------


def _reviewer_required(request: AuthenticatedHttpRequest) -> None:
    if not can_moderate(request.user):
        raise PermissionDenied("This page is for reviewers.")


@require_safe
@login_required
def appeals(request: AuthenticatedHttpRequest) -> HttpResponse:
    _reviewer_required(request)
    return render(
        request,
        "fairness/appeals.html",
        {"appeals": open_appeals(), "form": AppealDecisionForm(), "now": timezone.now()},
    )


@require_POST
@login_required
def appeal_decision(request: AuthenticatedHttpRequest, appeal_id: int) -> HttpResponse:
    _reviewer_required(request)
    appeal = get_object_or_404(open_appeals(), pk=appeal_id)
    form = AppealDecisionForm(request.POST)
    if not form.is_valid():
        return refused(request, form)
    try:
        appeal_decide(
            appeal=appeal,
            by=request.user,
            overturn=form.cleaned_data["outcome"] == "overturn",
            note=form.cleaned_data["note"],
        )
    except FairnessError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Appeal decided; the artist has been told.")
    return redirect("appeals")


# --- feedback and findings: threads and statuses ------------------------------------------------


@require_safe
@login_required
def threads(request: AuthenticatedHttpRequest) -> HttpResponse:
    feedback, findings = thread_items_of(request.user)
    return render(
        request,
        "fairness/threads.html",
        {
            "feedback": feedback,
            "findings": findings,
            "staff": can_moderate(request.user),
            "reply_form": ReplyForm(),
            "status_form": ThreadStatusForm(),
        },
    )


def _reply(request: AuthenticatedHttpRequest, item: Feedback | Finding) -> HttpResponse:
    form = ReplyForm(request.POST)
    if not form.is_valid():
        return refused(request, form)
    thread_reply(item=item, by=request.user, body=form.cleaned_data["body"])
    messages.success(request, "Message sent.")
    return redirect("threads")


def _move(request: AuthenticatedHttpRequest, item: Feedback | Finding) -> HttpResponse:
    if not can_moderate(request.user):
        raise PermissionDenied("Only staff change a feedback status.")
    form = ThreadStatusForm(request.POST)
    if not form.is_valid():
        return refused(request, form)
    try:
        thread_move(item=item, by=request.user, **form.cleaned_data)
    except FairnessError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Status changed; the author has been told.")
    return redirect("threads")


@require_POST
@login_required
def feedback_reply(request: AuthenticatedHttpRequest, feedback_id: int) -> HttpResponse:
    return _reply(request, get_object_or_404(feedback_visible_to(request.user), pk=feedback_id))


@require_POST
@login_required
def feedback_status(request: AuthenticatedHttpRequest, feedback_id: int) -> HttpResponse:
    return _move(request, get_object_or_404(feedback_visible_to(request.user), pk=feedback_id))


@require_POST
@login_required
def finding_reply(request: AuthenticatedHttpRequest, finding_id: int) -> HttpResponse:
    return _reply(request, get_object_or_404(findings_visible_to(request.user), pk=finding_id))


@require_POST
@login_required
def finding_status(request: AuthenticatedHttpRequest, finding_id: int) -> HttpResponse:
    return _move(request, get_object_or_404(findings_visible_to(request.user), pk=finding_id))
