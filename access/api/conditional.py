"""`ETag` / `If-None-Match` for API reads: a client polling a job (or an output) that has not
changed gets a bodiless 304 instead of the whole representation again.

The tag is a hash of the representation itself, so it changes exactly when the body would: no
version column to keep in step. Comparison is weak (RFC 9110 §13.1.2), as for any GET.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response


def etag_of(data: Any) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return '"' + hashlib.sha256(canonical.encode()).hexdigest()[:32] + '"'


def conditional_response(request: Request, data: Any) -> Response:
    """200 with `data` and its ETag, or 304 when the client's If-None-Match already names it."""
    tag = etag_of(data)
    if _matches(request.headers.get("If-None-Match", ""), tag):
        response = Response(status=status.HTTP_304_NOT_MODIFIED)
    else:
        response = Response(data)
    response["ETag"] = tag
    return response


def _matches(header: str, tag: str) -> bool:
    if header.strip() == "*":
        return True
    candidates = {item.strip().removeprefix("W/") for item in header.split(",")}
    return tag in candidates
