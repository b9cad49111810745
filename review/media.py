"""Serving private output files through Django, with byte ranges so browsers can seek; and the
short-lived signed links that let an API client download them without a session.

A signed link names the output, the file, the user it was made for and the API token that asked
(if any). It works for DOWNLOAD_URL_TTL, and only while that user may still see the output and
the token is still usable: a containment action or a revoked token stops every link at once,
because nothing is trusted from the moment the link was made but the signature itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core import signing
from django.core.files.storage import storages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone

from access.models import ApiToken, User
from review.models import Output
from review.selectors import output_visible_to

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
