"""schemathesis hooks for the conformance run: how to make the files the upload routes read.

The documents list the file types an upload takes (`encoding.contentType`), but JSON Schema
cannot say which bytes make a text file; without this, schemathesis sends PNGs and random bytes
as "valid" uploads. Loaded by tests/test_openapi_conformance.py through SCHEMATHESIS_HOOKS.
"""

import schemathesis
from hypothesis import strategies as st

# UTF-8 text without NUL (which no text file carries, and PostgreSQL text cannot hold).
_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=2000).map(str.encode)

for media_type in ("text/plain", "text/markdown"):
    schemathesis.openapi.media_type(media_type, _TEXT)


# Which endpoints an agent may use is the operator's configuration, which no schema can state (as
# no schema can say which password is right): schema-valid data names an endpoint that is not a
# provider of the server's, or a key for one, and is refused with 422. Positive cases of agent
# creation choose the server's defaults for these fields; negative cases are left as generated.
_CHOSEN_BY_THE_OPERATOR = {
    "llm_config": ("model_endpoint", "provider", "api_key"),
    "embedding_config": ("embedding_endpoint_type", "embedding_endpoint", "provider", "api_key"),
}


# The routes whose bodies carry such configurations, and where in the body they do.
_CONFIGURED = {"/api/agents": lambda body: body.get("config"), "/api/agents/{agent_id}/fork": lambda body: body}

# `follow=true` on the event history answers with a stream that stays open for new events: a
# request-response check would wait on it forever. The stream is tested in test_event_history.
_ENDLESS = ("/admin/events", "/api/events", "/api/agents/{agent_id}/events")


@schemathesis.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    if case.operation.path in _ENDLESS and isinstance(case.query, dict):
        if str(case.query.get("follow")).lower() in ("true", "1"):  # what the server reads as true
            case.query = case.query | {"follow": "false"}
        return case
    where = _CONFIGURED.get(case.operation.path)
    if where is None or case.method.upper() != "POST" or case.meta is None:
        return case
    if case.meta.generation.mode.is_negative or not isinstance(case.body, dict):
        return case
    config = where(case.body)
    if isinstance(config, dict):
        for section, fields in _CHOSEN_BY_THE_OPERATOR.items():
            if isinstance(config.get(section), dict):
                config[section] = {k: v for k, v in config[section].items() if k not in fields}
    return case
