"""Staff pages of leak response: upload a suspect file, watch its trace, contain the tester."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from access.http import AuthenticatedHttpRequest, refused, require_safe_or_POST
from access.roles import can_trace
from access.services import AccessError
from provenance.forms import ContainForm, TraceUploadForm
from provenance.models import Trace
from provenance.selectors import traces_recent
from provenance.services import TraceError, trace_contain, trace_request


def tracer_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not can_trace(request.user):
            raise PermissionDenied("Tracing leaked files is for admins and leak responders.")
        return view(request, *args, **kwargs)

    return wrapper


@require_safe_or_POST
@login_required
@tracer_required
def traces(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = TraceUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        if not form.is_valid():
            return refused(request, form)
        upload = form.cleaned_data["file"]
        try:
            trace = trace_request(
                chunks=upload.chunks(), size=upload.size, original_name=upload.name, by=request.user
            )
        except TraceError as exc:
            form.add_error("file", str(exc))
            return refused(request, form)
        return redirect("staff_trace", trace_id=trace.id)
    return render(request, "provenance/traces.html", {"form": form, "traces": traces_recent()})


@require_safe
@login_required
@tracer_required
def trace_detail(request: AuthenticatedHttpRequest, trace_id) -> HttpResponse:
    trace = get_object_or_404(Trace.objects.select_related("tester", "output"), id=trace_id)
    return render(request, "provenance/trace.html", {"trace": trace, "form": ContainForm()})


@require_POST
@login_required
@tracer_required
def trace_contain_view(request: AuthenticatedHttpRequest, trace_id) -> HttpResponse:
    trace = get_object_or_404(Trace.objects.select_related("tester"), id=trace_id)
    form = ContainForm(request.POST)
    if not form.is_valid():
        return refused(request, form)
    try:
        report = trace_contain(trace=trace, by=request.user, reason=form.cleaned_data["reason"])
    except (TraceError, AccessError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            f"{trace.tester.email if trace.tester else ''} suspended: "
            f"{report.sessions_ended} sessions ended, {report.share_links_down} share links down.",
        )
    return redirect("staff_trace", trace_id=trace.id)
