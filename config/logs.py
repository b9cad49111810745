"""Structured logs: one formatter for every process, and the context each log line carries.

Every process (web, dispatcher, worker) logs through the standard library; structlog's
`ProcessorFormatter` renders each record, adding what is bound in the current context: the
`request_id` and `user_id` of a web request, the `job_id`, `dispatch_id`, `user_id` and
`request_id` of a job being dispatched or run. Context lives in contextvars, so it follows a
request through asgiref's threads and never leaks into another request or task.

`VERNISSAGE_LOG_FORMAT` picks the rendering: `json` (one JSON object per line, for log shippers:
the default in production) or `console` (human-readable: the default under `make run`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

CONTEXT_KEYS = ("request_id", "user_id", "job_id", "dispatch_id")
FORMATS = ("json", "console")
# A client's X-Request-ID is kept only if it looks like an id: it is copied into every log line.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")


def bind_log_context(**values: object) -> None:
    """Add `values` (None values are skipped) to what every later log line of this context says."""
    structlog.contextvars.bind_contextvars(
        **{key: str(value) for key, value in values.items() if value is not None}
    )


def clear_log_context() -> None:
    structlog.contextvars.clear_contextvars()


@contextmanager
def log_context(**values: object) -> Iterator[None]:
    """`values` bound for the block, and what was bound before restored after it."""
    with structlog.contextvars.bound_contextvars(
        **{key: str(value) for key, value in values.items() if value is not None}
    ):
        yield


def current_log_context() -> dict[str, Any]:
    return structlog.contextvars.get_contextvars()


def current_request_id() -> str:
    return str(current_log_context().get("request_id", ""))


def _drop_formatted_message(_logger: object, _name: str, event_dict: dict) -> dict:
    """`message` is a copy of the event that an earlier handler's formatting left on the record."""
    event_dict.pop("message", None)
    return event_dict


def _pre_chain() -> list[Any]:
    """What every record gets before rendering, whichever library logged it."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _drop_formatted_message,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _renderers(log_format: str) -> list[Any]:
    meta = structlog.stdlib.ProcessorFormatter.remove_processors_meta
    if log_format == "json":
        return [
            meta,
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("message"),
            structlog.processors.JSONRenderer(),
        ]
    # Plain tracebacks: the default (rich, with every local variable) took half a second a line.
    console = structlog.dev.ConsoleRenderer(
        colors=False, exception_formatter=structlog.dev.plain_traceback
    )
    return [meta, console]


def structured_formatter(log_format: str) -> logging.Formatter:
    """Renders any standard-library record, with the bound context, as JSON or for a console."""
    return structlog.stdlib.ProcessorFormatter(
        processors=_renderers(log_format), foreign_pre_chain=_pre_chain()
    )


def logging_settings(*, log_format: str, level: str) -> dict[str, Any]:
    """Django's LOGGING: the root logger writes to stderr through the chosen renderer."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {"()": "config.logs.structured_formatter", "log_format": log_format}
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.channels.server": {"level": "WARNING"}},
    }
