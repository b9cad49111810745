from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from access.selectors import budget_for
from generation.forms import JobForm
from generation.progress import job_payload
from generation.registry import enabled_models
from generation.selectors import STUDIO_JOB_LIMIT, jobs_of
from generation.services import JobRejected, job_submit


@login_required
def studio(request: HttpRequest) -> HttpResponse:
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


def _render_studio(request: HttpRequest, form: JobForm, *, status: int = 200) -> HttpResponse:
    jobs = list(jobs_of(owner=request.user)[:STUDIO_JOB_LIMIT])
    context = {
        "form": form,
        "models": enabled_models(),
        "budget": budget_for(request.user),
        "initial_jobs": [job_payload(job).as_dict() for job in jobs],
    }
    return render(request, "generation/studio.html", context, status=status)
