"""The studio's webhook settings: register endpoints, see each one's deliveries, replay, rotate."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from access.http import AuthenticatedHttpRequest, refused, require_safe_or_POST
from webhooks.forms import EndpointForm
from webhooks.models import Endpoint
from webhooks.selectors import deliveries_of, delivery_of, endpoint_of, endpoints_of
from webhooks.services import (
    IssuedEndpoint,
    WebhookError,
    can_register,
    delivery_replay,
    endpoint_create,
    endpoint_delete,
    endpoint_rotate,
    endpoint_update,
)

DELIVERIES_SHOWN = 50


def _own_endpoint(request: AuthenticatedHttpRequest, endpoint_id) -> Endpoint:
    if not can_register(request.user):
        raise PermissionDenied("Webhooks are for testers and staff whose access is active.")
    endpoint = endpoint_of(request.user, endpoint_id)
    if endpoint is None:
        raise Http404("No such webhook endpoint.")  # someone else's looks like none
    return endpoint


def _add_errors(form: EndpointForm, exc: WebhookError) -> None:
    for field, problems in exc.errors.items():
        for problem in problems:
            form.add_error(field if field in form.fields else None, problem)


@require_safe_or_POST
@login_required
def webhooks(request: AuthenticatedHttpRequest) -> HttpResponse:
    if not can_register(request.user):
        raise PermissionDenied("Webhooks are for testers and staff whose access is active.")
    form = EndpointForm(request.POST or None, initial={"enabled": True})
    issued: IssuedEndpoint | None = None
    if request.method == "POST":
        if not form.is_valid():
            return refused(request, form)
        try:
            issued = endpoint_create(owner=request.user, **form.cleaned_data)
        except WebhookError as exc:
            _add_errors(form, exc)
            return refused(request, form)
        form = EndpointForm(initial={"enabled": True})
    context = {"form": form, "issued": issued, "endpoints": endpoints_of(request.user)}
    return render(request, "webhooks/endpoints.html", context)


@require_safe_or_POST
@login_required
def webhook_detail(request: AuthenticatedHttpRequest, endpoint_id) -> HttpResponse:
    """GET: the endpoint, its settings and its recent deliveries. POST: change its settings."""
    endpoint = _own_endpoint(request, endpoint_id)
    initial = {field: getattr(endpoint, field) for field in EndpointForm.base_fields}
    form = EndpointForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if not form.is_valid():
            return refused(request, form)
        try:
            endpoint_update(endpoint=endpoint, by=request.user, **form.cleaned_data)
        except WebhookError as exc:
            _add_errors(form, exc)
            return refused(request, form)
        messages.success(request, "Endpoint saved.")
        return redirect("webhook_detail", endpoint_id=endpoint.id)
    return _detail(request, endpoint, form)


def _detail(
    request: AuthenticatedHttpRequest,
    endpoint: Endpoint,
    form: EndpointForm,
    issued: IssuedEndpoint | None = None,
) -> HttpResponse:
    deliveries = deliveries_of(endpoint)[:DELIVERIES_SHOWN]
    context = {"endpoint": endpoint, "form": form, "deliveries": deliveries, "issued": issued}
    return render(request, "webhooks/endpoint.html", context)


@require_POST
@login_required
def webhook_rotate(request: AuthenticatedHttpRequest, endpoint_id) -> HttpResponse:
    endpoint = _own_endpoint(request, endpoint_id)
    issued = endpoint_rotate(endpoint=endpoint, by=request.user)
    initial = {field: getattr(endpoint, field) for field in EndpointForm.base_fields}
    return _detail(request, endpoint, EndpointForm(initial=initial), issued)


@require_POST
@login_required
def webhook_delete(request: AuthenticatedHttpRequest, endpoint_id) -> HttpResponse:
    endpoint = _own_endpoint(request, endpoint_id)
    endpoint_delete(endpoint=endpoint, by=request.user)
    messages.success(request, f"Endpoint {endpoint.url} deleted.")
    return redirect("webhooks")


@require_POST
@login_required
def webhook_replay(request: AuthenticatedHttpRequest, endpoint_id, delivery_id) -> HttpResponse:
    endpoint = _own_endpoint(request, endpoint_id)
    delivery = delivery_of(request.user, endpoint.id, delivery_id)
    if delivery is None:
        raise Http404("No such delivery.")
    try:
        delivery_replay(delivery=delivery, by=request.user)
    except WebhookError as exc:
        messages.error(request, " ".join(str(exc.errors[field][0]) for field in exc.errors))
    else:
        messages.success(request, f"{delivery.event_type} queued again.")
    return redirect("webhook_detail", endpoint_id=endpoint.id)
