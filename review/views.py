from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from access.http import AuthenticatedHttpRequest
from generation.registry import enabled_models
from review.forms import FeedbackForm, FindingForm, ShareForm
from review.media import serve_output_file
from review.models import NotificationPreference, Output, ShareLink
from review.selectors import (
    QueueFilters,
    findings_visible_to,
    gallery,
    output_visible_to,
    review_queue,
    review_stats,
    share_link_resolve,
    share_links_of,
    share_links_of_user,
    sla_cutoff,
)
from review.services import (
    ReviewError,
    can_moderate,
    feedback_submit,
    finding_file,
    finding_move,
    notification_preference_set,
    output_approve,
    output_claim,
    output_reject,
    output_release,
    output_request_changes,
    output_set_gallery,
    output_verify_integrity,
    output_withdraw,
    outputs_bulk_decide,
    share_link_create,
    share_link_record_view,
    share_link_revoke,
)

QUEUE_PAGE_SIZE = 50


def _reviewer_required(request: AuthenticatedHttpRequest) -> None:
    if not can_moderate(request.user):
        raise PermissionDenied("This page is for reviewers.")


def _visible_output(request: AuthenticatedHttpRequest, output_id) -> Output:
    output = output_visible_to(output_id=output_id, user=request.user)
    if output is None:
        raise Http404("No such output.")
    return output


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _queue_filters(request: HttpRequest) -> QueueFilters:
    age = request.GET.get("min_age_hours", "").strip()
    return QueueFilters(
        model=request.GET.get("model", "").strip(),
        cohort=request.GET.get("cohort", "").strip(),
        tester=request.GET.get("tester", "").strip(),
        lane=request.GET.get("lane", "").strip(),
        min_age_hours=int(age) if age.isdigit() else None,
    )


# --- reviewer pages ----------------------------------------------------------------------------


@login_required
def queue(request: AuthenticatedHttpRequest) -> HttpResponse:
    _reviewer_required(request)
    filters = _queue_filters(request)
    items = review_queue(filters)
    return render(
        request,
        "review/queue.html",
        {
            "outputs": list(items[:QUEUE_PAGE_SIZE]),
            "total": items.count(),
            "filters": filters,
            "models": enabled_models(),
            "reasons": settings.REVIEW_REJECT_REASONS,
            "sla_cutoff": sla_cutoff(),
            "sla_hours": settings.REVIEW_SLA_HOURS,
            "now": timezone.now(),
        },
    )


def _answer(request: HttpRequest, ok: bool, message: str, status: int = 200) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"ok": ok, "message": message}, status=status if not ok else 200)
    (messages.success if ok else messages.error)(request, message)
    return redirect("review_queue")


@login_required
@require_POST
def claim(request: AuthenticatedHttpRequest, output_id) -> HttpResponse:
    _reviewer_required(request)
    output = _visible_output(request, output_id)
    try:
        if request.POST.get("release"):
            output_release(output=output, by=request.user)
            return _answer(request, True, "Released.")
        output_claim(output=output, by=request.user)
    except ReviewError as exc:
        return _answer(request, False, str(exc), status=409)
    return _answer(request, True, "Claimed.")


@login_required
@require_POST
def decide(request: AuthenticatedHttpRequest, output_id) -> HttpResponse:
    _reviewer_required(request)
    output = _visible_output(request, output_id)
    decision, note = request.POST.get("decision"), request.POST.get("note", "")
    try:
        if decision == "approve":
            output = output_approve(output=output, by=request.user)
        elif decision == "reject":
            output = output_reject(
                output=output, by=request.user, reason=request.POST.get("reason", ""), note=note
            )
        elif decision == "changes":
            output = output_request_changes(output=output, by=request.user, note=note)
        elif decision == "withdraw":
            output = output_withdraw(output=output, by=request.user, reason=note)
        else:
            raise ReviewError("Choose approve, reject, changes or withdraw.")
    except ReviewError as exc:
        return _answer(request, False, str(exc), status=409)
    return _answer(request, True, output.get_state_display())


@login_required
@require_POST
def bulk_decide(request: AuthenticatedHttpRequest) -> HttpResponse:
    _reviewer_required(request)
    outcome = outputs_bulk_decide(
        output_ids=request.POST.getlist("output"),
        by=request.user,
        decision=request.POST.get("decision", ""),
        reason=request.POST.get("reason", ""),
        note=request.POST.get("note", ""),
    )
    messages.success(request, f"Decided {len(outcome.done)} items.")
    for output_id, error in outcome.errors.items():
        messages.error(request, f"{output_id}: {error}")
    return redirect("review_queue")


@login_required
def stats(request: AuthenticatedHttpRequest) -> HttpResponse:
    _reviewer_required(request)
    return render(request, "review/stats.html", {"days": review_stats()})


@login_required
def findings(request: AuthenticatedHttpRequest) -> HttpResponse:
    items = findings_visible_to(request.user)
    return render(
        request,
        "review/findings.html",
        {
            "findings": items,
            "staff": can_moderate(request.user),
        },
    )


@login_required
@require_POST
def finding_action(request: AuthenticatedHttpRequest, finding_id: int) -> HttpResponse:
    finding = get_object_or_404(findings_visible_to(request.user), pk=finding_id)
    try:
        finding_move(
            finding=finding,
            by=request.user,
            to=request.POST.get("to", ""),
            note=request.POST.get("note", ""),
        )
    except ReviewError as exc:
        messages.error(request, str(exc))
    return redirect("findings")


# --- owner pages -------------------------------------------------------------------------------


@login_required
def output_detail(request: AuthenticatedHttpRequest, output_id) -> HttpResponse:
    output = _visible_output(request, output_id)
    mine = output.job.owner_id == request.user.id
    return render(
        request,
        "review/output_detail.html",
        {
            "output": output,
            "mine": mine,
            "links": share_links_of(output=output) if mine else [],
            "share_form": ShareForm(),
            "feedback_form": FeedbackForm(),
            "finding_form": FindingForm(),
            "may_file_finding": request.user.is_red_teamer or can_moderate(request.user),
            "my_findings": findings_visible_to(request.user).filter(output=output),
            "reviewer": can_moderate(request.user),
        },
    )


@login_required
@require_POST
def share(request: AuthenticatedHttpRequest, output_id) -> HttpResponse:
    output = _visible_output(request, output_id)
    form = ShareForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return redirect("output_detail", output_id=output.id)
    days = form.cleaned_data["expires_in_days"]
    try:
        share_link_create(
            output=output,
            by=request.user,
            expires_at=timezone.now() + timedelta(days=days) if days else None,
            show_prompt=form.cleaned_data["show_prompt"],
        )
    except ReviewError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Share link created.")
    return redirect("output_detail", output_id=output.id)


@login_required
@require_POST
def share_revoke(request: AuthenticatedHttpRequest, link_id: int) -> HttpResponse:
    link = get_object_or_404(ShareLink, pk=link_id)
    if link.created_by_id != request.user.id and not can_moderate(request.user):
        raise Http404("No such link.")
    share_link_revoke(link=link, by=request.user)
    messages.success(request, "Link revoked.")
    back = request.POST.get("back", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = "my_shares"  # never redirect to a place the form's sender chose off-site
    return redirect(back)


@login_required
def my_shares(request: AuthenticatedHttpRequest) -> HttpResponse:
    return render(
        request,
        "review/my_shares.html",
        {
            "links": share_links_of_user(request.user),
            "now": timezone.now(),
        },
    )


@login_required
@require_POST
def gallery_toggle(request: AuthenticatedHttpRequest, output_id) -> HttpResponse:
    output = _visible_output(request, output_id)
    try:
        output_set_gallery(output=output, by=request.user, visible=request.POST.get("show") == "1")
    except ReviewError as exc:
        messages.error(request, str(exc))
    return redirect("output_detail", output_id=output.id)


@login_required
@require_POST
def feedback(request: AuthenticatedHttpRequest, output_id) -> HttpResponse:
    output = _visible_output(request, output_id)
    form = FeedbackForm(request.POST)
    if form.is_valid():
        try:
            feedback_submit(output=output, by=request.user, **form.cleaned_data)
            messages.success(request, "Thanks for the feedback.")
        except ReviewError as exc:
            messages.error(request, str(exc))
    else:
        messages.error(request, "Rate from 1 to 5.")
    return redirect("output_detail", output_id=output.id)


@login_required
@require_POST
def finding(request: AuthenticatedHttpRequest, output_id) -> HttpResponse:
    output = _visible_output(request, output_id)
    form = FindingForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return redirect("output_detail", output_id=output.id)
    try:
        finding_file(output=output, by=request.user, **form.cleaned_data)
        messages.success(request, "Finding filed; staff will triage it.")
    except ReviewError as exc:
        messages.error(request, str(exc))
    return redirect("output_detail", output_id=output.id)


@login_required
def gallery_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    return render(request, "review/gallery.html", {"outputs": list(gallery()[:100])})


@login_required
def preferences(request: AuthenticatedHttpRequest) -> HttpResponse:
    if request.method == "POST":
        notification_preference_set(
            user=request.user, email_on_decision=request.POST.get("email_on_decision") == "1"
        )
        messages.success(request, "Preferences saved.")
        return redirect("preferences")
    preference = NotificationPreference.objects.filter(user=request.user).first()
    return render(
        request,
        "review/preferences.html",
        {
            "email_on_decision": preference.email_on_decision if preference else True,
        },
    )


# --- media -------------------------------------------------------------------------------------


@login_required
def output_video(request: AuthenticatedHttpRequest, output_id) -> HttpResponseBase:
    return serve_output_file(request, _visible_output(request, output_id).video_name)


@login_required
def output_poster(request: AuthenticatedHttpRequest, output_id) -> HttpResponseBase:
    return serve_output_file(request, _visible_output(request, output_id).poster_name)


def _shared_link(token: str) -> ShareLink:
    link = share_link_resolve(token=token)
    if link is None:
        raise Http404("This link is no longer available.")
    return link


def shared_page(request: HttpRequest, token: str) -> HttpResponse:
    link = share_link_resolve(token=token)
    # A file changed after approval voids the approval before anyone sees it.
    if link is None or not output_verify_integrity(output=link.output):
        return render(request, "review/share_unavailable.html", status=404)
    share_link_record_view(link=link)
    return render(request, "review/share.html", {"link": link, "output": link.output})


def shared_video(request: HttpRequest, token: str) -> HttpResponseBase:
    return serve_output_file(request, _shared_link(token).output.video_name)


def shared_poster(request: HttpRequest, token: str) -> HttpResponseBase:
    return serve_output_file(request, _shared_link(token).output.poster_name)
