from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from review.media import serve_output_file
from review.models import Output
from review.selectors import output_visible_to, review_queue, share_link_resolve, share_links_of
from review.services import (
    ReviewError,
    can_moderate,
    output_approve,
    output_reject,
    share_link_create,
    share_link_record_view,
)

QUEUE_PAGE_SIZE = 50


def _reviewer_required(request: HttpRequest) -> None:
    if not can_moderate(request.user):
        raise PermissionDenied("The review queue is for reviewers.")


def _visible_output(request: HttpRequest, output_id) -> Output:
    output = output_visible_to(output_id=output_id, user=request.user)
    if output is None:
        raise Http404("No such output.")
    return output


@login_required
def queue(request: HttpRequest) -> HttpResponse:
    _reviewer_required(request)
    outputs = list(review_queue()[:QUEUE_PAGE_SIZE])
    return render(
        request, "review/queue.html", {"outputs": outputs, "total": review_queue().count()}
    )


@login_required
@require_POST
def decide(request: HttpRequest, output_id) -> HttpResponse:
    _reviewer_required(request)
    output = _visible_output(request, output_id)
    decision = request.POST.get("decision")
    try:
        if decision == "approve":
            output_approve(output=output, by=request.user)
            messages.success(request, "Approved.")
        elif decision == "reject":
            output_reject(output=output, by=request.user, reason=request.POST.get("reason", ""))
            messages.success(request, "Rejected.")
        else:
            messages.error(request, "Choose approve or reject.")
    except ReviewError as exc:
        messages.error(request, str(exc))
    return redirect("review_queue")


@login_required
def output_detail(request: HttpRequest, output_id) -> HttpResponse:
    output = _visible_output(request, output_id)
    links = share_links_of(output=output) if output.job.owner_id == request.user.id else []
    return render(request, "review/output_detail.html", {"output": output, "links": links})


@login_required
@require_POST
def share(request: HttpRequest, output_id) -> HttpResponse:
    output = _visible_output(request, output_id)
    try:
        share_link_create(output=output, by=request.user)
    except ReviewError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Share link created.")
    return redirect("output_detail", output_id=output.id)


@login_required
def output_video(request: HttpRequest, output_id) -> HttpResponse:
    return serve_output_file(request, _visible_output(request, output_id).video_name)


@login_required
def output_poster(request: HttpRequest, output_id) -> HttpResponse:
    return serve_output_file(request, _visible_output(request, output_id).poster_name)


def _shared_output(token: str):
    link = share_link_resolve(token=token)
    if link is None:
        raise Http404("This link is no longer available.")
    return link


def shared_page(request: HttpRequest, token: str) -> HttpResponse:
    link = share_link_resolve(token=token)
    if link is None:
        return render(request, "review/share_unavailable.html", status=404)
    share_link_record_view(link=link)
    return render(request, "review/share.html", {"link": link, "output": link.output})


def shared_video(request: HttpRequest, token: str) -> HttpResponse:
    return serve_output_file(request, _shared_output(token).output.video_name)


def shared_poster(request: HttpRequest, token: str) -> HttpResponse:
    return serve_output_file(request, _shared_output(token).output.poster_name)
