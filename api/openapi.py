"""The two OpenAPI documents, generated from the route table and the models that validate.

`openapi_memgpt.json` covers /api and /admin; `openapi_assistants.json` the OpenAI-Assistants
compatible /v1 routes.
"""

import re
from collections.abc import Iterable
from typing import Any

import msgspec

from api.http import Operation
from api.schemas.memgpt import Error

_METHODS = ("get", "post", "put", "patch", "delete")
_FIELD = re.compile(r"\{(\w+)(?::(\w+))?\}")
_REF = "#/components/schemas/{name}"
_REASONS = {
    400: "Malformed JSON, wrong types or missing fields",
    401: "Missing, unknown or revoked credentials",
    403: "A user key on an admin route",
    404: "Unknown id, or one that belongs to another user",
    409: "Conflicts with the current state",
    413: "The body is larger than the server takes (MEMGPT_MAX_BODY_BYTES, 1 MiB by default)",
    422: "A value breaks a rule this document states (length, pattern, range, enum)",
    503: "The database is unavailable (retry after Retry-After), or the views have not caught up with a write",
    504: "The turn did not finish in time; it goes on",
    429: "Too many requests (per key, or per address without one), turns or streams; retry after Retry-After",
}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}}
# What the upload routes read (by the part's type, the file name or the content); others are 422.
UPLOAD_TYPES = (
    "text/plain",
    "text/markdown",
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
)
TITLES = {"memgpt": "MemGPT server API", "assistants": "MemGPT Assistants-compatible API"}


def _path_parameters(path: str) -> tuple[str, list[dict[str, Any]]]:
    params = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "format": "uuid"} if kind == "uuid" else {"type": "string"},
        }
        for name, kind in _FIELD.findall(path)
    ]
    return _FIELD.sub(r"{\1}", path), params


def _query_parameters(model: type[msgspec.Struct]) -> list[dict[str, Any]]:
    """One parameter per field; a model that needs one of several fields (`required_one_of`)
    becomes one exploded object parameter, whose schema can say so (`anyOf`)."""
    _, schemas = msgspec.json.schema_components([model], ref_template=_REF)
    schema = schemas[model.__name__]
    properties = {name: _not_null(field) for name, field in schema["properties"].items()}
    required = set(schema.get("required", ()))
    one_of = getattr(model, "required_one_of", ())
    if one_of:
        whole = {"type": "object", "properties": properties, "required": sorted(required)}
        whole["anyOf"] = [{"required": [name]} for name in one_of]
        return [
            {"name": model.__name__, "in": "query", "required": True, "style": "form", "explode": True, "schema": whole}
        ]
    return [{"name": n, "in": "query", "required": n in required, "schema": properties[n]} for n in properties]


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query string cannot say null: an optional parameter is one left out."""
    options = [option for option in schema.get("anyOf", ()) if option != {"type": "null"}]
    if len(options) != 1:
        return schema
    rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default") or (k == "default" and v is not None)}
    return {**options[0], **rest}


def _ref(model: type[msgspec.Struct]) -> dict[str, Any]:
    return {"$ref": _REF.format(name=model.__name__)}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _operation(op: Operation, auth: str | None, path_params: list[dict[str, Any]], models: set[type]) -> dict[str, Any]:
    out: dict[str, Any] = {"summary": op.summary}
    params = list(path_params)
    if op.query is not None:
        params += _query_parameters(op.query)
    if params:
        out["parameters"] = params
    reasons: dict[int, str | None] = {429: None}  # any request may meet a rate limit (api/limits.py)
    if path_params:
        reasons[404] = None  # an id that does not exist, or belongs to another user
    if op.body is not None:
        models.add(op.body)
        out["requestBody"] = {"required": True, **_json(_ref(op.body))}
        reasons |= {400: None, 413: None, 422: None}
    if op.query is not None:
        reasons |= {400: None, 422: None}
    if op.upload:
        out["requestBody"] = {"required": True, "content": {"multipart/form-data": _upload()}}
        unreadable = "The file is not text (UTF-8), Markdown, PDF or DOCX, or cannot be read"
        reasons |= {
            400: "Not multipart/form-data, or no part named `file`",
            413: "The file is larger than 20 MiB",
            422: unreadable + ("; or a parameter breaks a rule" if op.query is not None else ""),
        }
    if auth is not None:
        out["security"] = [{"HTTPBearer": []}]
        reasons |= {401: None, 503: None}  # the key lookup needs the database
    if auth == "admin":
        reasons[403] = None
    for code, why in op.errors:
        reasons[code] = why or reasons.get(code)
    responses: dict[str, Any] = {}
    if op.response is not None:
        models.add(op.response)
        responses[str(op.status)] = {"description": "Success", **_json(_ref(op.response))}
        if op.streams:
            responses[str(op.status)]["content"]["text/event-stream"] = {
                "schema": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "Each event's data: one frame (internal_monologue, function_call, assistant_message, "
                    "function_return + status, or internal_error; with date). Its id is the log position.",
                }
            }
    for code in sorted(reasons):
        responses[str(code)] = {"description": reasons[code] or _REASONS.get(code, "Error"), **_json(_ref(Error))}
        if code in (429, 503):
            responses[str(code)]["headers"] = _RETRY_AFTER
    out["responses"] = responses
    return out


def _upload() -> dict[str, Any]:
    return {
        "schema": {
            "type": "object",
            "properties": {"file": {"type": "string", "format": "binary"}},
            "required": ["file"],
        },
        "encoding": {"file": {"contentType": ", ".join(UPLOAD_TYPES)}},
    }


def document(name: str, routes: Iterable[Any]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    models: set[type] = {Error}
    for route in routes:
        if route.document != name:
            continue
        path, path_params = _path_parameters(route.path)
        for method in _METHODS:
            responder = getattr(route.resource, f"on_{method}" + (f"_{route.suffix}" if route.suffix else ""), None)
            op = getattr(responder, "operation", None)
            if op is not None:
                auth = getattr(route.resource, "auth", "user")
                paths.setdefault(path, {})[method] = _operation(op, auth, path_params, models)
    _, schemas = msgspec.json.schema_components(sorted(models, key=lambda m: m.__name__), ref_template=_REF)
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLES[name], "version": "0.1.0"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"HTTPBearer": {"type": "http", "scheme": "bearer"}},
        },
    }
