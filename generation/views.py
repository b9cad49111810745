from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from access.http import AuthenticatedHttpRequest, refused, require_safe_or_POST
from access.models import User
from generation.forms import CancelForm, JobForm, StudioFilterForm, model_choices, settings_of
from generation.models import Job
from generation.progress import job_payloads
from generation.quotas import budget_for
from generation.selectors import (
    STUDIO_PAGE_SIZE,
    job_owned_by,
    job_state_counts,
    job_visible_to,
    jobs_of,
)
from generation.services import JobRejected, job_cancel, job_submit
from review.selectors import output_visible_to

LAST_SETTINGS = "studio.last_settings"  # session key: the form as last submitted


class DeriveForm(forms.Form):
    """`?from=<job id>&as=reuse|rerun|revise`: start the form from one of your jobs."""

    AS_CHOICES = [
        ("reuse", "Reuse settings"),
        ("rerun", "Re-run with a new seed"),
        ("revise", "New version"),
    ]
    from_ = forms.UUIDField(required=False, label="from")
    as_ = forms.ChoiceField(required=False, choices=AS_CHOICES, label="as")

    def __init__(self, query, *args, **kwargs) -> None:
        data = {"from_": query.get("from", ""), "as_": query.get("as", "")}
        super().__init__(data, *args, **kwargs)


@dataclass(frozen=True)
class Derived:
    """The job the form starts from, how, and (for a new version) the reviewer's words."""

    job: Job
    mode: str
    reason: str = ""
    note: str = ""


@require_safe_or_POST
@login_required
def studio(request: AuthenticatedHttpRequest) -> HttpResponse:
    choices = model_choices(request.user)
    if request.method == "POST":
        form = JobForm(request.POST, choices=choices)
        if _submit(request, form):
            request.session[LAST_SETTINGS] = _json_safe(form.settings())
            return redirect("studio")
        derived = _parent_as_derived(request, form)
        return _render_studio(request, form, choices=choices, derived=derived, status=400)
    problems: list[str] = []
    derived, status = _derived(request, problems)
    form = JobForm(initial=_initial(request, derived), choices=choices)
    return _render_studio(
        request, form, choices=choices, derived=derived, problems=problems, status=status
    )


def _submit(request: AuthenticatedHttpRequest, form: JobForm) -> bool:
    """Queue the job the form asks for; False (errors on the form, all of them) otherwise."""
    if not form.is_valid():
        form.check_the_rest(request.user)
        return False
    parent = None
    if form.cleaned_data["parent"] is not None:
        parent = job_owned_by(job_id=form.cleaned_data["parent"], owner=request.user)
        if parent is None:
            form.add_error(None, "The job these settings came from is not one of yours.")
            return False
    try:
        _job, created = job_submit(
            owner=request.user,
            request=form.to_request(),
            client_token=form.cleaned_data["client_token"],
            parent=parent,
        )
    except JobRejected as exc:
        form.add_rejection(exc)
        return False
    if created:
        messages.success(request, "Your job is queued.")
    else:
        messages.info(request, "That form was already submitted; nothing new queued.")
    return True


def _json_safe(settings: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in settings.items() if value is not None}


def _derived(request: AuthenticatedHttpRequest, problems: list[str]) -> tuple[Derived | None, int]:
    """The job `?from=` names, if it is the user's; a bad value is reported (400, or 404 for
    an id that is not one of the user's jobs) and the form starts afresh."""
    if "from" not in request.GET and "as" not in request.GET:
        return None, 200
    query = DeriveForm(request.GET)
    if not query.is_valid():
        for field, errors in query.errors.items():
            problems.append(
                f"“{field.rstrip('_')}”: {' '.join(str(e) for e in errors)} The form starts afresh."
            )
        return None, 400
    job_id, mode = query.cleaned_data["from_"], query.cleaned_data["as_"] or "reuse"
    job = job_owned_by(job_id=job_id, owner=request.user) if job_id else None
    if job is None:
        problems.append("“from”: no job of yours has this id. The form starts afresh.")
        return None, 404
    return (_revision(request, job) if mode == "revise" else Derived(job=job, mode=mode)), 200


def _revision(request: AuthenticatedHttpRequest, job: Job) -> Derived:
    """A new version of `job`, with the reviewer's reason and note for its output."""
    output = getattr(job, "output", None)
    decided = output_visible_to(output_id=output.id, user=request.user) if output else None
    if decided is None:
        return Derived(job=job, mode="revise")
    return Derived(job, "revise", decided.decision_reason, decided.decision_note)


def _parent_as_derived(request: AuthenticatedHttpRequest, form: JobForm) -> Derived | None:
    """A refused form that came from a job keeps showing where it came from (and, for a new
    version, the reviewer's note beside the prompt)."""
    parent_id = (getattr(form, "cleaned_data", None) or {}).get("parent")
    parent = job_owned_by(job_id=parent_id, owner=request.user) if parent_id else None
    if parent is None:
        return None
    output = getattr(parent, "output", None)
    if output is None or output.state != "needs_changes":
        return Derived(job=parent, mode="reuse")
    return _revision(request, parent)


def _initial(request: AuthenticatedHttpRequest, derived: Derived | None) -> dict[str, Any]:
    if derived is None:
        return dict(request.session.get(LAST_SETTINGS) or {})
    initial = {**settings_of(derived.job), "parent": derived.job.id}
    if derived.mode in ("rerun", "revise"):
        initial["seed"] = None  # a new random seed
    return initial


def _filtered_page(
    request: AuthenticatedHttpRequest, problems: list[str]
) -> tuple[Page, dict[str, Any]]:
    filters = StudioFilterForm(request.GET)
    filters.is_valid()
    for field, errors in filters.errors.items():
        problems.append(f"“{field}”: {' '.join(str(e) for e in errors)} It was left out.")
    data = filters.cleaned_data
    jobs = jobs_of(owner=request.user, state=data.get("state") or None, text=data.get("q") or "")
    paginator = Paginator(jobs, STUDIO_PAGE_SIZE)
    number = data.get("page") or 1
    if number > paginator.num_pages:
        problems.append(f"“page”: there is no page {number}; the last is {paginator.num_pages}.")
    return paginator.get_page(number), data


def _render_studio(
    request: AuthenticatedHttpRequest,
    form: JobForm,
    *,
    choices,
    derived: Derived | None = None,
    problems: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    problems = problems if problems is not None else []
    page, filters = _filtered_page(request, problems)
    if problems and status == 200:
        status = 400
    jobs = list(page.object_list)
    tabs = _state_tabs(request.user, filters.get("q") or "")
    context = {
        "form": form,
        "models": choices,
        "models_data": [choice.as_dict() for choice in choices],
        "budget": budget_for(request.user),
        "initial_jobs": job_payloads(jobs),
        "page": page,
        "filters": filters,
        "states": tabs,
        "all_count": sum(count for _, _, count in tabs),
        "filtered": bool(filters.get("state") or filters.get("q")),
        "live_new": page.number == 1 and not (filters.get("state") or filters.get("q")),
        "derived": derived,
        "problems": problems,
    }
    return render(request, "generation/studio.html", context, status=status)


def _state_tabs(user: User, text: str) -> list[tuple[str, str, int]]:
    """(state, label, how many of the user's jobs, searched by `text`, are in it)."""
    counts = job_state_counts(owner=user, text=text)
    return [(value, label, counts.get(value, 0)) for value, label in Job.State.choices]


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
