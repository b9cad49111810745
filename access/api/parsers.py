"""The API's parsers, bounded in size (and JSON in nesting depth).

DRF's own JSON and form parsers read the whole body whatever its size (Django's
DATA_UPLOAD_MAX_MEMORY_SIZE guards only `request.body` and Django's own form parsing), and its JSON
parser lets a RecursionError from deeply nested JSON through as a 500. These read at most
DATA_UPLOAD_MAX_MEMORY_SIZE bytes (413 past it); JSON goes through `access.json_limits` (400 for
anything nested deeper than its MAX_DEPTH, or not JSON at all). Multipart bodies go through
Django's parser, which applies the same limit itself.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import QueryDict
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import FormParser, JSONParser

from access.json_limits import JSONRejected, loads


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "body_too_large"


class BoundedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = _text_encoding(parser_context or {})
        raw = _read_bounded(stream)
        try:
            return loads(raw.decode(encoding))
        except UnicodeDecodeError:
            raise ParseError(f"The request body is not {encoding} text.") from None
        except JSONRejected as exc:
            raise ParseError(str(exc)) from None


class BoundedFormParser(FormParser):
    def parse(
        self, stream: Any, media_type: str | None = None, parser_context: Any = None
    ) -> Any:  # an immutable QueryDict, as DRF's own
        encoding = _text_encoding(parser_context or {})
        return QueryDict(_read_bounded(stream), encoding=encoding)


def _read_bounded(stream: Any) -> bytes:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    raw = stream.read() if limit is None else stream.read(limit + 1)
    if limit is not None and len(raw) > limit:
        raise BodyTooLarge(f"The request body is larger than {limit} bytes.")
    return raw


def _text_encoding(parser_context: Any) -> str:
    """The body's charset, if it is a text encoding (as DRF's own parsers check: a codec such as
    bz2_codec would decompress a small body without bound)."""
    encoding = parser_context.get("encoding") or settings.DEFAULT_CHARSET
    try:
        "".encode(encoding)
    except (LookupError, UnicodeError):
        raise ParseError(f"Unsupported charset {encoding!r}.") from None
    return encoding
