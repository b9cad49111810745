from __future__ import annotations

from collections import Counter
from datetime import timedelta
from math import ceil

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from access.http import (
    AuthenticatedHttpRequest,
    form_errors,
    problems,
    refused,
    require_safe_or_POST,
    safe_next_url,
)
from access.models import User
from generation.registry import enabled_models
from review.forms import (
    BulkDecisionForm,
    ClaimForm,
    DecisionForm,
    FeedbackForm,
    FindingForm,
    FindingMoveForm,
    GalleryForm,
    PreferencesForm,
    QueuePageForm,
    ShareForm,
    TesterNoteForm,
)
from review.media import serve_output_file
from review.models import Feedback, NotificationPreference, Output, ShareLink
from review.selectors import (
    QUEUE_TABS,
    QueueFilters,
    findings_visible_to,
    gallery,
    output_visible_to,
    review_queue,
    review_queue_counts,
    review_stats,
    share_link_resolve,
    share_link_unavailable_reason,
    share_links_of,
    share_links_of_user,
    sla_cutoff,
    tester_contexts,
)
from review.services import (
    ReviewError,
    can_moderate,
    feedback_submit,
    finding_file,
    finding_move,
    may_have_note,
    notification_preference_set,
    output_approve,
    output_claim,
    output_decision_undo,
    output_reject,
    output_release,
    output_request_changes,
    output_set_gallery,
    output_verify_integrity,
    output_withdraw,
    outputs_bulk_decide,
    share_link_create,
    share_link_poster_name,
    share_link_record_view,
    share_link_revoke,
    share_link_video_name,
    tester_note_set,
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


# --- reviewer pages ----------------------------------------------------------------------------


@require_safe
@login_required
def queue(request: AuthenticatedHttpRequest) -> HttpResponse:
    _reviewer_required(request)
    form = QueuePageForm(request.GET)
    if not form.is_valid():
        if _wants_json(request):
            return refused(request, form)
        # Reported on the queue itself, with the way out: an unknown value never just empties it.
        return _queue_page(request, QueueFilters(), problems(form_errors(form)), status=400)
    return _queue_page(request, form.filters(), [], number=form.cleaned_data["page"] or 1)


def _queue_page(
    request: AuthenticatedHttpRequest,
    filters: QueueFilters,
    invalid: list[str],
    status: int = 200,
    number: int = 1,
) -> HttpResponse:
    counts = review_queue_counts(filters) if not invalid else {}
    total = counts.get(filters.state, 0)
    pages = max(1, ceil(total / QUEUE_PAGE_SIZE))
    if number > pages:
        invalid = [f"page: there is no page {number}; the last is {pages}."]
        counts, total, status = {}, 0, 400
    start = (number - 1) * QUEUE_PAGE_SIZE
    outputs = [] if invalid else list(review_queue(filters)[start : start + QUEUE_PAGE_SIZE])
    contexts = tester_contexts({output.job.owner_id for output in outputs}) if outputs else {}
    return render(
        request,
        "review/queue.html",
        {
            "items": [(output, contexts[output.job.owner_id]) for output in outputs],
            "outputs": outputs,
            "total": total,
            "pager": _pager(request, number, pages),
            "tabs": _tabs(request, counts),
            "filters": filters,
            "invalid": invalid,
            "clear_url": f"{request.path}?state={filters.state}",
            "models": enabled_models(),
            "reasons": settings.REVIEW_REJECT_REASONS,
            "sla_cutoff": sla_cutoff(),
            "sla_hours": settings.REVIEW_SLA_HOURS,
            "undo_seconds": settings.REVIEW_UNDO_SECONDS,
            "note_form": TesterNoteForm(),
            "now": timezone.now(),
        },
        status=status,
    )


def _pager(request: HttpRequest, number: int, pages: int) -> dict:
    """Links to the pages before and after this one, keeping the filters."""

    def url(page: int) -> str:
        query = request.GET.copy()
        query["page"] = str(page)
        return f"{request.path}?{query.urlencode()}"

    return {
        "number": number,
        "pages": pages,
        "previous": url(number - 1) if number > 1 else "",
        "next": url(number + 1) if number < pages else "",
    }


def _tabs(request: HttpRequest, counts: dict[str, int]) -> list[dict]:
    """One link per tab, keeping the other filters; the current tab is the one asked for."""
    current = request.GET.get("state") or "pending"
    tabs = []
    for state, label in QUEUE_TABS.items():
        query = request.GET.copy()
        query["state"] = state
        query.pop("page", None)  # another tab starts at its first page
        tabs.append(
            {
                "state": state,
                "label": label,
                "count": counts.get(state),
                "url": f"{request.path}?{query.urlencode()}",
                "current": state == current,
            }
        )
    return tabs


def _answer(request: HttpRequest, ok: bool, message: str, status: int = 200) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"ok": ok, "message": message}, status=status if not ok else 200)
    (messages.success if ok else messages.error)(request, message)
    return redirect("review_queue")


@require_POST
@login_required
def claim(request: AuthenticatedHttpRequest, output_id) -> HttpResponse:
    _reviewer_required(request)
    output = _visible_output(request, output_id)
    form = ClaimForm(request.POST)
    if not form.is_valid():
        return refused(request, form)
    try:
        if form.cleaned_data["release"]:
            output_release(output=output, by=request.user)
            return _answer(request, True, "Released.")
        output_claim(output=output, by=request.user)
    except ReviewError as exc:
        return _answer(request, False, str(exc), status=409)
    return _answer(request, True, "Claimed.")


@require_POST
@login_required
def decide(request: AuthenticatedHttpRequest, output_id) -> HttpResponse:
    _reviewer_required(request)
    output = _visible_output(request, output_id)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return refused(request, form)
    decision, note = form.cleaned_data["decision"], form.cleaned_data["note"]
    try:
        if decision == "approve":
            output = output_approve(output=output, by=request.user)
        elif decision == "reject":
            output = output_reject(
                output=output, by=request.user, reason=form.cleaned_data["reason"], note=note
            )
        elif decision == "changes":
            output = output_request_changes(output=output, by=request.user, note=note)
        else:
            output = output_withdraw(output=output, by=request.user, reason=note)
    except ReviewError as exc:
        return _answer(request, False, str(exc), status=409)
    return _answer(request, True, output.get_state_display())


@require_POST
@login_required
def undo(request: AuthenticatedHttpRequest, output_id) -> HttpResponse:
    _reviewer_required(request)
    output = _visible_output(request, output_id)
    try:
        output_decision_undo(output=output, by=request.user)
    except ReviewError as exc:
        return _answer(request, False, str(exc), status=409)
    return _answer(request, True, "Undone: the item is back in the queue, claimed by you.")


@require_POST
@login_required
def tester_note(request: AuthenticatedHttpRequest, user_id: int) -> HttpResponse:
    _reviewer_required(request)
    tester = get_object_or_404(User, pk=user_id)
    if not may_have_note(tester):
        raise Http404("No such tester.")  # staff have no tester record to note
    form = TesterNoteForm(request.POST)
    if not form.is_valid():
        return refused(request, form)
    tester_note_set(tester=tester, by=request.user, body=form.cleaned_data["body"])
    if _wants_json(request):
        return JsonResponse({"ok": True, "message": "Note saved."})
    messages.success(request, f"Note on {tester.email} saved.")
    return redirect(safe_next_url(request, request.POST.get("back", ""), "review_queue"))


@require_POST
@login_required
def bulk_decide(request: AuthenticatedHttpRequest) -> HttpResponse:
    _reviewer_required(request)
    form = BulkDecisionForm(request.POST)
    if not form.is_valid():
        return refused(request, form)
    outcome = outputs_bulk_decide(
        output_ids=[str(output_id) for output_id in form.cleaned_data["output"]],
        by=request.user,
        decision=form.cleaned_data["decision"],
        reason=form.cleaned_data["reason"],
        note=form.cleaned_data["note"],
    )
    done = len(outcome.done)
    if done:
        messages.success(request, f"Decided {done} item{pluralize(done)}.")
    # One line per distinct refusal, counted: a reviewer reads reasons, not output ids.
    refusals = Counter(outcome.errors.values())
    for error, count in refusals.items():
        messages.error(request, f"{count} item{pluralize(count)} not decided: {error}")
    return redirect("review_queue")


@require_safe
@login_required
def stats(request: AuthenticatedHttpRequest) -> HttpResponse:
    _reviewer_required(request)
    return render(request, "review/stats.html", {"days": review_stats()})


@require_safe
@login_required
def findings(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The red team's findings page (reviewers see every finding). A tester outside the red-team
    lane gets 403, unless they filed findings before moving lanes: those stay theirs to read."""
    items = findings_visible_to(request.user)
    user = request.user
    if not (user.is_red_teamer or can_moderate(user) or items.exists()):
        raise PermissionDenied(
            "Findings are the red team's: your cohort is not in the red-team lane."
        )
    return render(
        request,
        "review/findings.html",
        {
            "findings": items,
            "staff": can_moderate(request.user),
        },
    )


@require_POST
@login_required
def finding_action(request: AuthenticatedHttpRequest, finding_id: int) -> HttpResponse:
    finding = get_object_or_404(findings_visible_to(request.user), pk=finding_id)
    form = FindingMoveForm(request.POST)
    if not form.is_valid():
        return refused(request, form)
    try:
        finding_move(
            finding=finding,
            by=request.user,
            to=form.cleaned_data["to"],
            note=form.cleaned_data["note"],
        )
    except ReviewError as exc:
        messages.error(request, str(exc))
    return redirect("findings")


# --- owner pages -------------------------------------------------------------------------------


@require_safe
@login_required
def output_detail(request: AuthenticatedHttpRequest, output_id) -> HttpResponse:
    output = _visible_output(request, output_id)
    mine = output.job.owner_id == request.user.id
    links = list(share_links_of(output=output)) if mine else []
    my_feedback = Feedback.objects.filter(output=output, author=request.user).first()
    return render(
        request,
        "review/output_detail.html",
        {
            "output": output,
            "mine": mine,
            "links": links,
            "active_links": [link for link in links if link.is_active],
            "my_feedback": my_feedback,
            "share_form": ShareForm(),
            # Feedback already given is shown in place, in the form that changes it.
            "feedback_form": FeedbackForm(
                initial={"rating": my_feedback.rating, "notes": my_feedback.notes}
                if my_feedback
                else None
            ),
            "finding_form": FindingForm(),
            "may_file_finding": request.user.is_red_teamer or can_moderate(request.user),
            "my_findings": findings_visible_to(request.user).filter(output=output),
            "reviewer": can_moderate(request.user),
        },
    )


@require_POST
@login_required
def share(request: AuthenticatedHttpRequest, output_id) -> HttpResponse:
    output = _visible_output(request, output_id)
    form = ShareForm(request.POST)
    if not form.is_valid():
        return refused(request, form)
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


@require_POST
@login_required
def share_revoke(request: AuthenticatedHttpRequest, link_id: int) -> HttpResponse:
    link = get_object_or_404(ShareLink, pk=link_id)
    if link.created_by_id != request.user.id and not can_moderate(request.user):
        raise Http404("No such link.")
    share_link_revoke(link=link, by=request.user)
    messages.success(request, "Link revoked.")
    # Never redirect to a place the form's sender chose off-site.
    return redirect(safe_next_url(request, request.POST.get("back", ""), "my_shares"))


@require_safe
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


@require_POST
@login_required
def gallery_toggle(request: AuthenticatedHttpRequest, output_id) -> HttpResponse:
    output = _visible_output(request, output_id)
    form = GalleryForm(request.POST)
    if not form.is_valid():
        return refused(request, form)
    try:
        output = output_set_gallery(
            output=output, by=request.user, visible=form.cleaned_data["show"]
        )
    except ReviewError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            "Shown in the program gallery: members of the program can now see it."
            if output.in_gallery
            else "Removed from the program gallery: only you and reviewers see it now.",
        )
    return redirect("output_detail", output_id=output.id)


@require_POST
@login_required
def feedback(request: AuthenticatedHttpRequest, output_id) -> HttpResponse:
    output = _visible_output(request, output_id)
    form = FeedbackForm(request.POST)
    if not form.is_valid():
        return refused(request, form)
    try:
        feedback_submit(output=output, by=request.user, **form.cleaned_data)
        messages.success(request, "Thanks for the feedback.")
    except ReviewError as exc:
        messages.error(request, str(exc))
    return redirect("output_detail", output_id=output.id)


@require_POST
@login_required
def finding(request: AuthenticatedHttpRequest, output_id) -> HttpResponse:
    output = _visible_output(request, output_id)
    form = FindingForm(request.POST)
    if not form.is_valid():
        return refused(request, form)
    try:
        finding_file(output=output, by=request.user, **form.cleaned_data)
        messages.success(request, "Finding filed; staff will triage it.")
    except ReviewError as exc:
        messages.error(request, str(exc))
    return redirect("output_detail", output_id=output.id)


@require_safe
@login_required
def gallery_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    return render(request, "review/gallery.html", {"outputs": list(gallery()[:100])})


@require_safe_or_POST
@login_required
def preferences(request: AuthenticatedHttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = PreferencesForm(request.POST)
        if not form.is_valid():
            return refused(request, form)
        notification_preference_set(
            user=request.user, email_on_decision=form.cleaned_data["email_on_decision"]
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


@require_safe
@login_required
def output_video(request: AuthenticatedHttpRequest, output_id) -> HttpResponseBase:
    return serve_output_file(request, _visible_output(request, output_id).video_name)


@require_safe
@login_required
def output_poster(request: AuthenticatedHttpRequest, output_id) -> HttpResponseBase:
    return serve_output_file(request, _visible_output(request, output_id).poster_name)


def _shared_link(token: str) -> ShareLink:
    link = share_link_resolve(token=token)
    if link is None:
        raise Http404("This link is no longer available.")
    return link


@require_safe
def shared_page(request: HttpRequest, token: str) -> HttpResponse:
    link = share_link_resolve(token=token)
    # A file changed after approval voids the approval before anyone sees it.
    if link is None:
        reason = share_link_unavailable_reason(token=token)
        return render(request, "review/share_unavailable.html", {"reason": reason}, status=404)
    if not output_verify_integrity(output=link.output):
        return render(request, "review/share_unavailable.html", {"reason": "file"}, status=404)
    share_link_record_view(link=link)
    context = {
        "link": link,
        "output": link.output,
        "video_name": share_link_video_name(link=link),  # its own marked copy, made on first view
        "poster_name": share_link_poster_name(link=link),
    }
    return render(request, "review/share.html", context)


@require_safe
def shared_video(request: HttpRequest, token: str) -> HttpResponseBase:
    return serve_output_file(request, share_link_video_name(link=_shared_link(token)))


@require_safe
def shared_poster(request: HttpRequest, token: str) -> HttpResponseBase:
    return serve_output_file(request, share_link_poster_name(link=_shared_link(token)))
