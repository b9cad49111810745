"""JSON from outside, parsed with bounds: nesting depth and size.

Python's json module recurses once per level of nesting: a 2,000-deep array (`[[[[…]]]]`, 4 KB)
raises RecursionError, which no parser catches as bad input (a 500, or a crashed socket). Nothing
we accept nests more than a few levels, so anything deeper than MAX_DEPTH is refused before the
parser sees it. The API's parser and the socket consumer both parse through `loads`.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 32
# A JSON string (escapes included): its brackets are text, not nesting.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class JSONRejected(ValueError):
    """Input that is not JSON we accept; the message says why, in words for the client."""


def nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in `text` (0 for a scalar)."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def loads(text: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """`json.loads` that refuses NaN/Infinity and nesting deeper than `max_depth`."""
    if text.count("[") + text.count("{") > max_depth and nesting_depth(text) > max_depth:
        raise JSONRejected(f"JSON nested deeper than {max_depth} levels is not accepted.")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:  # a bound above the interpreter's own stack: still bad input
        raise JSONRejected("JSON nested too deeply.") from None
    except ValueError as exc:
        raise JSONRejected(f"Not valid JSON: {exc}") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
