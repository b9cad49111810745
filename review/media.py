"""Serving private output files through Django, with byte ranges so browsers can seek."""

from __future__ import annotations

import re

from django.core.files.storage import storages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
CONTENT_TYPES = {".mp4": "video/mp4", ".jpg": "image/jpeg", ".webp": "image/webp"}


def serve_output_file(request: HttpRequest, name: str) -> HttpResponseBase:
    storage = storages["outputs"]
    if not storage.exists(name):
        raise Http404("The file is missing.")
    size = storage.size(name)
    content_type = CONTENT_TYPES.get(name[name.rfind(".") :], "application/octet-stream")
    byte_range = _parse_range(request.headers.get("Range", ""), size)
    handle = storage.open(name, "rb")
    response: HttpResponseBase
    if byte_range is None:
        response = FileResponse(handle, content_type=content_type)
    else:
        start, end = byte_range
        handle.seek(start)
        response = HttpResponse(handle.read(end - start + 1), status=206, content_type=content_type)
        handle.close()
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, no-store"
    return response


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    match = RANGE_RE.match(header.strip())
    if not match or size == 0:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":
        start, end = max(size - int(last), 0), size - 1
    else:
        start, end = int(first), min(int(last) if last else size - 1, size - 1)
    return (start, end) if start <= end else None
