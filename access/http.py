"""Request types for doors that only signed-in users pass (django-stubs' documented pattern).

A type-checking distinction only: at run time the request is still Django's (or DRF's) own class.
"""

from __future__ import annotations

from django.http import HttpRequest
from rest_framework.request import Request

from access.models import User


class AuthenticatedHttpRequest(HttpRequest):
    """The request of a view behind `login_required`: its user is a signed-in `User`."""

    user: User


class AuthenticatedRequest(Request):
    """The request of an API view behind `ActiveTesterWithScopes` (the default permission)."""

    user: User
