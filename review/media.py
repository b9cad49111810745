"""Delivering private output files once a view has checked who may have them; and the
short-lived signed links that let an API client download them without a session.

Three ways, by configuration, the permission check always the caller's and always the same:
- S3 (`VERNISSAGE_STORAGE=s3`): a redirect to a presigned URL valid MEDIA_URL_TTL_SECONDS; pages
  embed such URLs directly (`media_src`), so the browser fetches the bytes from the object store.
- Local storage behind a proxy (`VERNISSAGE_MEDIA_ACCEL_REDIRECT_PREFIX`): an empty answer whose
  `X-Accel-Redirect` header names the file; the proxy sends it (ranges, ETag and all).
- Otherwise (development, tests) Python streams the file in chunks with HTTP range semantics:
  206 with Content-Range, 416 for a range past the end, ETag and Last-Modified validators,
  If-Range, and 304/412 for the other conditional headers.

A signed link names the output, the file, the user it was made for and the API token that asked
(if any). It works for DOWNLOAD_URL_TTL, and only while that user may still see the output and
the token is still usable: a containment action or a revoked token stops every link at once,
because nothing is trusted from the moment the link was made but the signature itself.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO
from urllib.parse import quote

from django.conf import settings
from django.core import signing
from django.core.files.storage import Storage, storages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase, StreamingHttpResponse
from django.utils import timezone
from django.utils.cache import get_conditional_response
from django.utils.http import http_date, parse_http_date_safe
from storages.backends.s3 import S3Storage

from access.models import ApiToken, User
from review.models import Output
from review.selectors import output_visible_to

RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
CONTENT_TYPES = {".mp4": "video/mp4", ".jpg": "image/jpeg", ".webp": "image/webp"}
CACHE_CONTROL = "private, no-store"
CHUNK_BYTES = 64 * 1024  # what one iteration of a streamed answer holds in memory


def _content_type(name: str) -> str:
    return CONTENT_TYPES.get(name[name.rfind(".") :], "application/octet-stream")


def media_direct_url(name: str) -> str | None:
    """A presigned URL the browser can fetch `name` from directly, or None when the storage has
    none (local files go through `serve_output_file`). Only for someone already allowed."""
    storage = storages["outputs"]
    if not isinstance(storage, S3Storage):
        return None
    parameters = {"ResponseContentType": _content_type(name), "ResponseCacheControl": CACHE_CONTROL}
    return storage.url(name, parameters=parameters, expire=settings.MEDIA_URL_TTL_SECONDS)


def serve_output_file(request: HttpRequest, name: str) -> HttpResponseBase:
    """Deliver `name` to a request the caller has already allowed."""
    direct = media_direct_url(name)
    if direct is not None:
        response: HttpResponseBase = HttpResponseRedirect(direct)
    elif settings.MEDIA_ACCEL_REDIRECT_PREFIX:
        response = _accel_redirect(name)
    else:
        response = _stream(request, storages["outputs"], name)
    response["Cache-Control"] = CACHE_CONTROL
    return response


def _accel_redirect(name: str) -> HttpResponse:
    """The proxy sends the file; nothing here touches it (the proxy answers 404 if it is gone)."""
    response = HttpResponse(content_type=_content_type(name))
    response["X-Accel-Redirect"] = settings.MEDIA_ACCEL_REDIRECT_PREFIX + quote(name)
    return response


def _stream(request: HttpRequest, storage: Storage, name: str) -> HttpResponseBase:
    try:
        size, modified = storage.size(name), storage.get_modified_time(name)
    except FileNotFoundError:
        raise Http404("The file is missing.") from None
    etag, last_modified = _etag(name, size, modified), int(modified.timestamp())
    validators = {"ETag": etag, "Last-Modified": http_date(last_modified)}
    response: HttpResponseBase | None = get_conditional_response(
        request, etag=etag, last_modified=last_modified
    )
    if response is None:
        response = _ranged_answer(request, storage, name, size, etag, last_modified)
    for header, value in validators.items():
        response[header] = value
    response["Accept-Ranges"] = "bytes"
    return response


def _ranged_answer(
    request: HttpRequest, storage: Storage, name: str, size: int, etag: str, last_modified: int
) -> HttpResponseBase:
    header = request.headers.get("Range", "")
    if header and not _if_range_holds(request.headers.get("If-Range"), etag, last_modified):
        header = ""  # the client's copy is stale: it gets the whole new file
    byte_range = _parse_range(header, size)
    if byte_range == UNSATISFIABLE:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    start, end = byte_range or (0, size - 1)
    try:
        handle = storage.open(name, "rb")
    except FileNotFoundError:
        raise Http404("The file is missing.") from None
    streamed = StreamingHttpResponse(
        _chunks(handle, start, end - start + 1),
        status=206 if byte_range else 200,
        content_type=_content_type(name),
    )
    streamed["Content-Length"] = str(end - start + 1)
    if byte_range:
        streamed["Content-Range"] = f"bytes {start}-{end}/{size}"
    return streamed


def _chunks(handle: IO[bytes], start: int, length: int) -> Iterator[bytes]:
    """`length` bytes from `start`, CHUNK_BYTES at a time; the file is closed however it ends
    (Django closes the answer's iterator when the client goes away)."""
    try:
        handle.seek(start)
        while length > 0:
            chunk = handle.read(min(CHUNK_BYTES, length))
            if not chunk:
                break
            length -= len(chunk)
            yield chunk
    finally:
        handle.close()


def _etag(name: str, size: int, modified: datetime) -> str:
    """A strong validator for this file as stored: a rewritten or replaced file gets a new one."""
    material = f"{name}:{size}:{modified.timestamp()!r}".encode()
    return '"' + hashlib.sha256(material).hexdigest()[:32] + '"'


def _if_range_holds(value: str | None, etag: str, last_modified: int) -> bool:
    """RFC 9110 13.1.5: the range applies only if the validator still matches (strongly)."""
    if value is None:
        return True
    value = value.strip()
    if value.startswith(("W/", '"')):
        return value == etag  # a weak tag never matches for a range
    return parse_http_date_safe(value) == last_modified


UNSATISFIABLE = (-1, -1)


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) of one byte range; None to send the whole file (no Range, or one this
    server ignores: another unit, several ranges, a malformed one); UNSATISFIABLE past the end."""
    match = RANGE_RE.match(header.strip())
    if not match:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":  # the last N bytes
        suffix = int(last)
        return (max(size - suffix, 0), size - 1) if suffix > 0 and size > 0 else UNSATISFIABLE
    start = int(first)
    if last and int(last) < start:
        return None  # invalid: ignored, as RFC 9110 says
    if start >= size:
        return UNSATISFIABLE
    return start, min(int(last) if last else size - 1, size - 1)


# --- signed download links -----------------------------------------------------------------------

DOWNLOAD_SALT = "vernissage.review.output-download"
DOWNLOAD_URL_TTL = timedelta(minutes=5)
DOWNLOAD_FILES = ("video", "poster")
_SIGNED_MAX_CHARS = 400  # a real one is about 150; longer is not ours


class DownloadRefused(Exception):
    """A signed link that is not ours, was altered, or names nothing this user may have now."""


class DownloadExpired(DownloadRefused):
    """A genuine link past its lifetime: the client asks the API for a new one."""


class DownloadUnavailable(DownloadRefused):
    """A genuine, fresh link whose user may no longer have the output (contained, token revoked,
    output deleted or no longer visible to them)."""


@dataclass(frozen=True)
class SignedDownload:
    signed: str
    expires_at: datetime


def download_sign(
    *, output: Output, user: User, file: str, token: ApiToken | None
) -> SignedDownload:
    """A link to `file` ("video" or "poster") of `output` for `user`, valid DOWNLOAD_URL_TTL."""
    if file not in DOWNLOAD_FILES:
        raise ValueError(f"Not a file of an output: {file!r}")
    payload = {"o": str(output.id), "u": user.pk, "f": file, "t": token.pk if token else None}
    return SignedDownload(
        signed=signing.dumps(payload, salt=DOWNLOAD_SALT),
        expires_at=timezone.now() + DOWNLOAD_URL_TTL,
    )


def download_resolve(signed: str) -> str:
    """The storage name a signed link opens, if it is genuine, fresh and still allowed now."""
    if len(signed) > _SIGNED_MAX_CHARS:
        raise DownloadRefused("This download link is not valid.")
    try:
        grant = signing.loads(signed, salt=DOWNLOAD_SALT, max_age=DOWNLOAD_URL_TTL)
    except signing.SignatureExpired:
        raise DownloadExpired(
            "This download link has expired: ask the API for a new one."
        ) from None
    except signing.BadSignature:
        raise DownloadRefused("This download link is not valid.") from None
    user = User.objects.select_related("cohort").filter(pk=grant["u"]).first()
    output = output_visible_to(output_id=grant["o"], user=user) if user else None
    if output is None or output.state == Output.State.DELETED or not _token_usable(grant["t"]):
        raise DownloadUnavailable("This output is not available to this link's owner now.")
    return output.video_name if grant["f"] == "video" else output.poster_name


def _token_usable(token_id: int | None) -> bool:
    if token_id is None:  # made for a signed-in session, which the standing check covers
        return True
    token = ApiToken.objects.filter(pk=token_id).first()
    return token is not None and token.is_usable
