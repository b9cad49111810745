"""The API's JSON parser, bounded in nesting depth.

DRF's JSONParser lets the RecursionError of deeply nested JSON (`[[[[…]]]]`, 2,000 deep, 4 KB)
through as a 500. This one parses through `access.json_limits`: anything nested deeper than its
MAX_DEPTH, or not JSON at all, is a 400 naming the problem. The size of the body is Django's to
bound: DRF reads it through `request.body`, which refuses more than DATA_UPLOAD_MAX_MEMORY_SIZE
with a 400 before any parser runs.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from access.json_limits import JSONRejected, loads


class BoundedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = _text_encoding(parser_context or {})
        try:
            return loads(stream.read().decode(encoding))
        except UnicodeDecodeError:
            raise ParseError(f"The request body is not {encoding} text.") from None
        except JSONRejected as exc:
            raise ParseError(str(exc)) from None


def _text_encoding(parser_context: Any) -> str:
    """The body's charset, if it is a text encoding (as DRF's own parsers check: a codec such as
    bz2_codec would decompress a small body without bound)."""
    encoding = parser_context.get("encoding") or settings.DEFAULT_CHARSET
    try:
        "".encode(encoding)
    except (LookupError, UnicodeError):
        raise ParseError(f"Unsupported charset {encoding!r}.") from None
    return encoding
