"""How responders meet HTTP: typed bodies and queries in, typed responses out.

`@operation` wraps a responder: it parses and validates the query string and JSON body into the
declared models (orjson to parse, msgspec to validate), calls the responder with them, and
serialises what it returns. The OpenAPI builder reads the same declaration.
"""

import functools
import math
import re
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import falcon
import msgspec
import orjson
from falcon.asgi import Request, Response, SSEvent

from api.schemas.memgpt import COMMAND_PATTERN, NON_BLANK, NUL_FREE
from runtime.commands import views_lagging

JSON = "application/json"
_TYPE_ERROR = re.compile(r"^(Expected `[^`]+`, got `[^`]+`|Object missing required field|Expected `object`)")


Errors = Mapping[int, str | None] | tuple[int, ...]


@dataclass(frozen=True)
class Operation:
    summary: str
    response: type[msgspec.Struct] | None
    body: type[msgspec.Struct] | None = None
    query: type[msgspec.Struct] | None = None
    errors: tuple[tuple[int, str | None], ...] = ()  # statuses the responder answers, with why (None: the usual)
    status: int = 200
    streams: bool = False  # may answer text/event-stream instead of JSON
    upload: bool = False  # takes a multipart/form-data `file` (read by the responder)


# What a broken pattern means, said instead of the pattern itself.
_PATTERNS = {
    NUL_FREE: "Text may not contain NUL (U+0000) characters",
    NON_BLANK: "Expected text that is not blank (and has no NUL characters)",
    COMMAND_PATTERN: "Unknown command: use /memory, /dump [n], /pop [n], /retry, /rethink <text>, /rewrite <text>, "
    "/heartbeat or /memorywarning (n from 1 to 999999)",
}


def _invalid(error: msgspec.ValidationError) -> falcon.HTTPError:
    """Wrong shapes and types are 400; well-typed values that break a constraint are 422."""
    message = str(error)
    if _TYPE_ERROR.match(message):
        return falcon.HTTPBadRequest(description=message)
    for pattern, meaning in _PATTERNS.items():
        message = message.replace(f"Expected `str` matching regex {pattern!r}", meaning)
    return falcon.HTTPUnprocessableEntity(description=message)


_INT64 = (-(2**63), 2**63 - 1)


def _unstorable(value: Any) -> str | None:
    """Why a value cannot be stored, or None. Every text and number a request gives may reach a
    view: PostgreSQL text holds no NUL (U+0000) and no lone surrogate, and a whole number beyond
    64 bits is stored but cannot be answered again. Such a value in an event would stop every
    view that tries to write it, so it is refused here, before any event is appended."""
    if isinstance(value, str):
        if "\x00" in value:
            return _NUL
        if _SURROGATE.search(value):
            return "Text may not contain lone UTF-16 surrogates (invalid Unicode)."
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if _INT64[0] <= value <= _INT64[1] else "Integers must fit in 64 bits (signed)."
    if isinstance(value, float):
        return None if math.isfinite(value) else "Numbers must be finite."
    if isinstance(value, dict):
        return next(filter(None, (_unstorable(k) or _unstorable(v) for k, v in value.items())), None)
    if isinstance(value, list | tuple):
        return next(filter(None, map(_unstorable, value)), None)
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")
_NUL = "Text may not contain NUL (U+0000) characters."


def _integral(value: Any) -> Any:
    """JSON has one number type: 16000.0 is the integer 16000 (as JSON Schema counts it), though
    parsers read it as a float. No request field is a float, so every whole number becomes an int."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def _checked(value: msgspec.Struct) -> Any:
    """What the model kept (unknown fields are dropped) is storable (`_unstorable`), and names one
    of the fields the model requires one of (`required_one_of`: the documents say so with `anyOf`)."""
    why = _unstorable(msgspec.to_builtins(value))
    if why:
        raise falcon.HTTPUnprocessableEntity(description=why)
    one_of = getattr(value, "required_one_of", ())
    if one_of and all(getattr(value, name) is None for name in one_of):
        raise falcon.HTTPUnprocessableEntity(description=f"Give one of: {', '.join(one_of)}.")
    return value


def parse_query(req: Request, model: type[msgspec.Struct]) -> Any:
    params = dict(req.params)
    try:
        value = msgspec.convert(params, model, strict=False)
    except msgspec.ValidationError as e:
        raise _invalid(e) from None
    for name, given in params.items():  # lax conversion reads "null" as None where no string fits
        if given == "null" and getattr(value, name, "") is None:
            raise falcon.HTTPBadRequest(description=f"`{name}` cannot be null; leave it out instead.")
    return _checked(value)


MAX_DEPTH = 400  # nesting levels of a JSON body; no request model comes near it


def _too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether arrays and objects nest deeper than `limit`, found without recursion: the checks
    after it (and msgspec) recurse, and a RecursionError would answer 500."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


async def parse_body(req: Request, model: type[msgspec.Struct], limit: int) -> Any:
    if req.content_length is not None and req.content_length > limit:
        raise falcon.HTTPContentTooLarge(description=f"Request bodies are limited to {limit} bytes.")
    raw = await req.stream.read(limit + 1)
    if len(raw) > limit:
        raise falcon.HTTPContentTooLarge(description=f"Request bodies are limited to {limit} bytes.")
    try:
        data = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError as e:
        raise falcon.HTTPBadRequest(description=f"Malformed JSON: {e}") from None
    if data is None:
        raise falcon.HTTPBadRequest(description="A JSON object body is required.")
    if _too_deep(data):
        raise falcon.HTTPBadRequest(description=f"JSON bodies may nest at most {MAX_DEPTH} levels deep.")
    try:
        return _checked(msgspec.convert(_integral(data), model))
    except msgspec.ValidationError as e:
        raise _invalid(e) from None


async def read_upload(req: Request, limit: int) -> tuple[str, bytes]:
    """The `file` part of a multipart/form-data body: (filename, bytes), at most `limit` bytes."""
    if req.content_length is not None and req.content_length > limit:
        raise falcon.HTTPContentTooLarge(description=f"Uploads are limited to {limit} bytes.")
    if not (req.content_type or "").startswith("multipart/form-data"):
        raise falcon.HTTPBadRequest(description="Send the file as multipart/form-data in a part named 'file'.")
    try:
        form = await req.get_media()
        async for part in form:
            if part.name == "file":
                data = await part.stream.read(limit + 1)
                if len(data) > limit:
                    raise falcon.HTTPContentTooLarge(description=f"Uploads are limited to {limit} bytes.")
                return part.secure_filename or "upload", data
    except falcon.MediaMalformedError as e:
        raise falcon.HTTPBadRequest(description=f"Malformed multipart body: {e.description}") from None
    raise falcon.HTTPBadRequest(description="No part named 'file' in the form.")


def send(resp: Response, payload: Any, status: int = 200) -> None:
    resp.status = status
    resp.content_type = JSON
    resp.data = orjson.dumps(msgspec.to_builtins(payload))


Responder = Callable[..., Awaitable[Any]]


def operation(
    summary: str,
    *,
    response: type[msgspec.Struct] | None,
    body: type[msgspec.Struct] | None = None,
    query: type[msgspec.Struct] | None = None,
    errors: Errors = (),
    streams: bool = False,
    upload: bool = False,
) -> Callable[[Responder], Responder]:
    """`errors`: the statuses the responder itself may answer, as codes or {code: why}; those
    that follow from the declaration (bad bodies and queries, auth, unknown path ids) are added
    by the OpenAPI builder."""
    reasons = tuple(errors.items()) if isinstance(errors, Mapping) else tuple((code, None) for code in errors)
    spec = Operation(summary, response, body, query, reasons, streams=streams, upload=upload)

    def decorate(responder: Responder) -> Responder:
        @functools.wraps(responder)
        async def wrapper(resource: Any, req: Request, resp: Response, **params: Any) -> None:
            if any(isinstance(v, str) and _unstorable(v) for v in params.values()):
                raise falcon.HTTPNotFound(description="No such resource.")  # no stored name holds such text
            if spec.query is not None:
                params["query"] = parse_query(req, spec.query)
            if spec.body is not None:
                params["body"] = await parse_body(req, spec.body, req.context.max_body_bytes)
            result = await responder(resource, req, resp, **params)
            if spec.response is not None and result is not None:  # None: the responder streams
                send(resp, result, spec.status)

        wrapper.operation = spec  # type: ignore[attr-defined]
        return wrapper

    return decorate


class ViewsLagHeader:
    """Adds `X-Views-Lag: true` to a response whose write the views had not applied in time."""

    async def process_response(self, req: Request, resp: Response, resource: object, req_succeeded: bool) -> None:
        if views_lagging():
            resp.set_header("X-Views-Lag", "true")


def answer_with_stream(resp: Response, events: AsyncIterator[SSEvent | None], release: Callable[[], None]) -> None:
    """Answer with server-sent `events`. `release` (the stream's count against its user's open
    streams) runs when they end, or when the generator is dropped before it ever started."""
    weakref.finalize(events, release)
    resp.content_type = "text/event-stream"
    resp.sse = events
