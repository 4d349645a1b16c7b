"""The two OpenAPI documents, generated from the route table and the models that validate.

`openapi_memgpt.json` covers /api and /admin; `openapi_assistants.json` the OpenAI-Assistants
compatible /v1 routes.
"""

import re
from collections.abc import Iterable
from typing import Any

import msgspec

from api.http import Operation
from api.schemas import Error

_METHODS = ("get", "post", "put", "patch", "delete")
_FIELD = re.compile(r"\{(\w+)(?::(\w+))?\}")
_REF = "#/components/schemas/{name}"
_REASONS = {
    400: "Malformed JSON, wrong types or missing fields",
    401: "Missing, unknown or revoked credentials",
    403: "A user key on an admin route",
    404: "Unknown id, or one that belongs to another user",
    409: "Conflicts with existing state",
    413: "Request body too large",
    422: "A value breaks a rule",
    503: "Saved, but the views have not caught up yet",
    504: "The turn did not finish in time; it goes on",
}
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
    _, schemas = msgspec.json.schema_components([model], ref_template=_REF)
    properties = schemas[model.__name__]["properties"]
    required = set(schemas[model.__name__].get("required", ()))
    return [{"name": n, "in": "query", "required": n in required, "schema": properties[n]} for n in properties]


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
    codes = set(op.errors)
    if path_params:
        codes.add(404)  # an id that does not exist, or belongs to another user
    if op.body is not None:
        models.add(op.body)
        out["requestBody"] = {"required": True, **_json(_ref(op.body))}
        codes |= {400, 413, 422}
    if op.query is not None:
        codes |= {400, 422}
    if op.upload:
        out["requestBody"] = {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                }
            },
        }
        codes |= {400, 413, 422}
    if auth is not None:
        out["security"] = [{"HTTPBearer": []}]
        codes.add(401)
    if auth == "admin":
        codes.add(403)
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
    for code in sorted(codes):
        responses[str(code)] = {"description": _REASONS.get(code, "Error"), **_json(_ref(Error))}
    out["responses"] = responses
    return out


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
