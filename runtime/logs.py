"""structlog set-up: JSON lines, request context from contextvars, no locals in tracebacks.

Rendered by orjson and written as bytes: every request and every turn logs a line, and the
standard library's encoder took two fifths of the logging's CPU.
"""

import json
import logging
import sys
from typing import Any

import orjson
import structlog
from structlog.tracebacks import ExceptionDictTransformer


def _dumps(event: dict[str, Any], **options: Any) -> bytes:
    """orjson; the standard library's encoder for what orjson refuses and it escapes: a lone
    surrogate (model text can carry one into an error's message), an integer past 64 bits; keys
    that are not text are left out there. A log call must not raise: one in an error handler
    would leave its error unhandled."""
    try:
        return orjson.dumps(event, **options)
    except TypeError:
        return json.dumps(event, default=options.get("default"), skipkeys=True).encode()


def configure(level: str = "info") -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # Frame locals would put request bodies and tokens into the log.
            structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False)),
            structlog.processors.JSONRenderer(_dumps, option=orjson.OPT_NON_STR_KEYS),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.BytesLoggerFactory(file=sys.stderr.buffer),
        cache_logger_on_first_use=True,
    )
