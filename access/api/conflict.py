"""409 Conflict: the request is well-formed, but the object's state does not allow it now
(already decided, claimed by another reviewer, not approved yet, already suspended)."""

from __future__ import annotations

from rest_framework import status
from rest_framework.exceptions import APIException


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The object's state does not allow this now."
    default_code = "conflict"
