from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from access.http import AuthenticatedHttpRequest, refused, require_safe_or_POST
from generation.forms import CancelForm, JobForm
from generation.progress import job_payloads
from generation.quotas import budget_for, limits_for
from generation.registry import enabled_models
from generation.selectors import STUDIO_JOB_LIMIT, job_visible_to, jobs_of
from generation.services import JobRejected, job_cancel, job_submit


@require_safe_or_POST
@login_required
def studio(request: AuthenticatedHttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = JobForm(request.POST)
        if form.is_valid():
            try:
                _job, created = job_submit(
                    owner=request.user,
                    request=form.to_request(),
                    client_token=form.cleaned_data["client_token"],
                )
            except JobRejected as exc:
                _add_errors(form, exc)
            else:
                if created:
                    messages.success(request, "Your job is queued.")
                else:
                    messages.info(request, "That form was already submitted; nothing new queued.")
                return redirect("studio")
        return _render_studio(request, form, status=400)
    return _render_studio(request, JobForm())


def _add_errors(form: JobForm, exc: JobRejected) -> None:
    for field, problems in exc.errors.items():
        target = field if field in form.fields else None
        for problem in problems:
            form.add_error(target, problem)


def _render_studio(
    request: AuthenticatedHttpRequest, form: JobForm, *, status: int = 200
) -> HttpResponse:
    jobs = list(jobs_of(owner=request.user)[:STUDIO_JOB_LIMIT])
    context = {
        "form": form,
        "models": [
            (spec, limits)
            for spec in enabled_models()
            if (limits := limits_for(request.user, spec)) is not None
        ],
        "budget": budget_for(request.user),
        "initial_jobs": job_payloads(jobs),
    }
    return render(request, "generation/studio.html", context, status=status)


@require_POST
@login_required
def cancel(request: AuthenticatedHttpRequest, job_id) -> HttpResponse:
    job = job_visible_to(job_id=job_id, user=request.user)
    if job is None:
        raise Http404("No such job.")
    form = CancelForm(request.POST)
    if not form.is_valid():
        return refused(request, form)
    try:
        job_cancel(job=job, by=request.user, reason=form.cleaned_data["reason"])
    except JobRejected as exc:
        message, ok = " ".join(exc.errors["__all__"]), False
    else:
        message, ok = "Cancelled.", True
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"ok": ok, "message": message}, status=200 if ok else 409)
    (messages.success if ok else messages.error)(request, message)
    return redirect("studio")
