"""The base of every API view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rest_framework.exceptions import MethodNotAllowed
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.api.throttling import rate_headers


class MethodFirstMixin:
    """Answers a method the view does not implement with 405 before authentication, permission
    and content negotiation run.

    DRF checks permissions first, so `PUT /api/v1/jobs/` with a token answered 403 ("this token
    cannot use this endpoint") and made a wrong method look like a missing grant; the HTML docs
    page answered a JSON `POST` 406. The method is the first thing wrong with such a request;
    saying so is clearer and discloses nothing.
    """

    http_method_names: Sequence[str]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        method = (request.method or "").lower()
        if method not in self.http_method_names or not hasattr(self, method):
            raise MethodNotAllowed(request.method or "")
        super().initial(request, *args, **kwargs)  # type: ignore[misc]


class ApiView(MethodFirstMixin, APIView):
    """The base of every API view: wrong methods first (MethodFirstMixin), and every answer tells
    the caller where it stands with the rate limits."""

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        for name, value in rate_headers(request).items():
            response[name] = value
        return response
