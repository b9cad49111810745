"""Template helpers of the account pages (sign-in, 2FA, sessions)."""

from __future__ import annotations

from django import template
from django.http import HttpRequest
from django.shortcuts import resolve_url

from access.devices import device_label
from access.http import safe_next_url
from access.roles import home_for

register = template.Library()


@register.filter
def device(user_agent: str | None) -> str:
    """A session's user agent in words: "Chrome on macOS"."""
    return device_label(user_agent)


@register.simple_tag(takes_context=True)
def continue_url(context: template.Context) -> str:
    """Where "Continue" leads from a page that ends a setup (recovery codes): the page's own
    `next` when it is one of ours, otherwise the signed-in person's first page."""
    request: HttpRequest = context["request"]
    home = resolve_url(home_for(request.user))
    return safe_next_url(request, request.GET.get("next") or "", home)
