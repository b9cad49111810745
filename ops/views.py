"""Doors for operators: health probes, Prometheus metrics, and the admins' usage page."""

from __future__ import annotations

import csv
import hmac
import ipaddress
from itertools import chain

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from access.http import AuthenticatedHttpRequest, refused
from access.roles import can_view_usage
from ops import metrics
from ops.forms import UsageForm
from ops.health import readiness
from ops.selectors import USAGE_COLUMNS, UsageRow, usage_by_cohort, usage_by_tester


@never_cache
@require_safe
def health_live(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers HTTP. Touches no service, so an outage elsewhere never gets
    a healthy web process restarted."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def health_ready(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when every check passes, else 503; each check's result either way. What
    went wrong (which may name internal hosts) only for those who may read the metrics."""
    results = readiness()
    ok = all(result.ok for result in results)
    checks = {result.name: result.as_json() for result in results}
    if not _may_read_metrics(request):
        checks = {name: {"ok": check["ok"]} for name, check in checks.items()}
    body = {"status": "ok" if ok else "unavailable", "checks": checks}
    return JsonResponse(body, status=200 if ok else 503)


def _bearer_matches(request: HttpRequest) -> bool:
    secret = settings.METRICS_BEARER_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return bool(secret) and scheme.lower() == "bearer" and hmac.compare_digest(given, secret)


def _from_allowed_network(request: HttpRequest) -> bool:
    """The direct peer's address, never X-Forwarded-For: a scraper talks to us directly."""
    try:
        peer = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(
        peer in ipaddress.ip_network(network, strict=False)
        for network in settings.METRICS_ALLOWED_NETWORKS
    )


def _may_read_metrics(request: HttpRequest) -> bool:
    return _bearer_matches(request) or _from_allowed_network(request)


@never_cache
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition, for a request bearing the metrics secret or from an allowed
    network; 403 for anyone else (with nothing computed)."""
    if not _may_read_metrics(request):
        return HttpResponse(
            "Metrics need the bearer secret or an allowed network.\n",
            status=403,
            content_type="text/plain",
        )
    return HttpResponse(metrics.render(), content_type=metrics.CONTENT_TYPE)


@require_safe
@login_required
def staff_usage(request: AuthenticatedHttpRequest) -> HttpResponseBase:
    if not can_view_usage(request.user):
        raise PermissionDenied
    form = UsageForm(request.GET)
    if not form.is_valid():
        return refused(request, form)
    start, end = form.window()
    by = form.cleaned_data["by"] or "tester"
    rows = (usage_by_cohort if by == "cohort" else usage_by_tester)(start=start, end=end)
    if form.cleaned_data["format"] == "csv":
        return _usage_csv(rows, by, form)
    context = {"rows": rows, "by": by, "form": form, "start": start, "end": end}
    return render(request, "ops/staff_usage.html", context)


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: object) -> str:
    # A leading =, +, - or @ makes spreadsheets evaluate the cell: an email could start with one.
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _usage_csv(rows: list[UsageRow], by: str, form: UsageForm) -> StreamingHttpResponse:
    header = [by, *(["cohort"] if by == "tester" else []), *USAGE_COLUMNS]
    lines = (
        [_cell(row.key), *([_cell(row.cohort)] if by == "tester" else [])]
        + [_cell(value) for value in row.values().values()]
        for row in rows
    )
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(line) for line in chain([header], lines)), content_type="text/csv"
    )
    start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    response["Content-Disposition"] = (
        f'attachment; filename="vernissage-usage-{by}-{start:%Y%m%d}-{end:%Y%m%d}.csv"'
    )
    return response
