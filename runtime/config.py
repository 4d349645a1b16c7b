"""All configuration, read in one place: the file `memgpt configure` writes, then the environment,
which overrides it."""

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from domain import catalogue, configs
from domain.configs import LOCAL_TYPES, EmbeddingConfig, LLMConfig
from runtime import settings_file
from runtime.endpoints import Provider

DEFAULT_USER_ID = UUID("00000000-0000-0000-0000-000000000000")

# New agents use these unless the config file or MEMGPT_* variables say otherwise (`domain.configs`:
# the embedded model and embedder), as the dicts agents store.
EMBEDDED_LLM: dict[str, Any] = configs.EMBEDDED_LLM.to_dict()
EMBEDDED_EMBEDDING: dict[str, Any] = configs.EMBEDDED_EMBEDDING.to_dict()


def _overrides(env: Mapping[str, str], names: Mapping[str, str], ints: set[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for variable, key in names.items():
        if env.get(variable):
            found[key] = int(env[variable]) if key in ints else env[variable]
    return found


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").lower() in ("1", "yes", "true", "on")


def _models(raw: str | None) -> tuple[str, ...]:
    return tuple(m.strip() for m in (raw or "").split(",") if m.strip())


def _providers(
    env: Mapping[str, str], saved: dict[str, dict[str, Any]], llm: dict[str, Any], embedding: dict[str, Any]
) -> tuple[Provider, ...]:
    """The operator's endpoints: `default` (the MEMGPT_MODEL_ENDPOINT* settings, with OPENAI_API_KEY),
    `default-embedding` when the embedding endpoint differs, then the config file's
    `[provider.NAME]` sections and MEMGPT_PROVIDERS=NAME,... with MEMGPT_PROVIDER_<NAME>_* variables."""
    key = env.get("OPENAI_API_KEY") or None
    found: dict[str, Provider] = {}
    chat, embedder = LLMConfig.from_dict(llm), EmbeddingConfig.from_dict(embedding)
    if chat.endpoint_kind not in LOCAL_TYPES and chat.model_endpoint:
        found["default"] = Provider(
            "default", chat.endpoint_type, chat.model_endpoint, key, _models(env.get("MEMGPT_MODELS"))
        )
    if embedder.endpoint_kind not in LOCAL_TYPES and embedder.embedding_endpoint:
        default = found.get("default")
        if default is None or default.endpoint.rstrip("/") != embedder.embedding_endpoint.rstrip("/"):
            found["default-embedding"] = Provider(
                "default-embedding", embedder.endpoint_type, embedder.embedding_endpoint, key
            )
    named = dict(saved.get("providers", {}))
    for name in _models(env.get("MEMGPT_PROVIDERS")):
        prefix = f"MEMGPT_PROVIDER_{name.upper().replace('-', '_')}_"
        named[name] = named.get(name, {}) | {
            k: env[prefix + k.upper()]
            for k in ("endpoint_type", "endpoint", "models", "api_key")
            if env.get(prefix + k.upper())
        }
    for name, values in named.items():
        if not values.get("endpoint"):
            raise ValueError(f"The provider {name!r} names no endpoint.")
        secret = values.get("api_key") or (env.get(values["api_key_env"]) if values.get("api_key_env") else None)
        found[name] = Provider(
            name,
            values.get("endpoint_type") or "openai",
            values["endpoint"],
            secret or None,
            _models(values.get("models")),
        )
    return tuple(found.values())


@dataclass(frozen=True)
class Config:
    home: Path
    pg_uri: str | None
    server_password: str = field(repr=False)
    password_from_env: bool
    default_llm_config: dict[str, Any]
    default_embedding_config: dict[str, Any]
    default_preset: str = catalogue.DEFAULT_PRESET
    default_persona: str = catalogue.DEFAULT_PERSONA
    default_human: str = catalogue.DEFAULT_HUMAN
    embedded_gguf: str | None = None  # another GGUF file for the embedded model
    openai_api_key: str | None = field(default=None, repr=False)
    default_user_id: UUID = DEFAULT_USER_ID
    max_body_bytes: int = 1_048_576
    view_wait_seconds: float = 10.0  # how long a write waits for its views before answering with X-Views-Lag
    log_level: str = "info"
    llm_timeout: float = 120.0  # seconds for one model call
    llm_attempts: int = 4  # tries per model call on 429/5xx/connection errors
    llm_backoff: float = 0.5  # seconds before the second try; doubles after each failure
    turn_timeout: float = 900.0  # how long a non-streamed request waits for its turn to end
    run_turns: bool = True  # run turns in this process (off when `memgpt worker`s do it)
    views_process: bool = True  # apply the views in a child process (runtime.views_process), not a thread
    header_timeout: float = 10.0  # seconds for a whole request head, from connecting or the previous response
    keepalive_timeout: float = 5.0  # seconds an idle connection is kept open between requests
    providers: tuple[Provider, ...] = ()  # the operator's endpoints and keys
    allow_user_endpoints: bool = False  # may users name endpoints of their own (never with the operator's key)?
    allow_internal_endpoints: bool = False  # ...on loopback, private, link-local addresses too?
    secret_key: str | None = field(default=None, repr=False)  # seals users' keys; else $MEMGPT_HOME/secret.key
    # Fair sharing: what one user (or key, or client address) may take of the shared server.
    max_running_turns: int = 64  # turns of one user running at once; more are refused at queue time (429)
    max_queued_turns: int = 256  # turns of one user waiting; more are refused (429)
    max_streams: int = 64  # open SSE streams of one user, per server process
    # Requests per second per key, and the burst before that rate applies: room for one user's 64
    # agents each in a closed loop (issue 14's load), while a flood is still cut off. Requests
    # without valid credentials count per client address, at most 50 a second after 200.
    rate_per_second: float = 1000.0
    rate_burst: int = 2000
    auth_per_minute: float = 10.0  # /api/auth password attempts per minute per client address
    auth_burst: int = 10  # /api/auth attempts at once per client address
    turn_lease_seconds: float = 10.0  # a dead runner's agents are taken over after this long
    embedding_timeout: float = 30.0  # seconds for one embeddings request of the filler
    embedding_concurrency: int = 2  # batches in flight per embedding endpoint

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Config":
        env = os.environ if env is None else env
        home = Path(env.get("MEMGPT_HOME") or Path.home() / ".memgpt").expanduser()
        saved = settings_file.read(home)
        defaults = {k: v for k, v in saved.get("defaults", {}).items() if v}
        password = env.get("MEMGPT_SERVER_PASS")
        llm = (
            EMBEDDED_LLM
            | saved.get("model", {})
            | _overrides(
                env,
                {
                    "MEMGPT_MODEL_ENDPOINT_TYPE": "model_endpoint_type",
                    "MEMGPT_MODEL_ENDPOINT": "model_endpoint",
                    "MEMGPT_MODEL": "model",
                    "MEMGPT_CONTEXT_WINDOW": "context_window",
                },
                {"context_window"},
            )
        )
        embedding = (
            EMBEDDED_EMBEDDING
            | saved.get("embedding", {})
            | _overrides(
                env,
                {
                    "MEMGPT_EMBEDDING_ENDPOINT_TYPE": "embedding_endpoint_type",
                    "MEMGPT_EMBEDDING_ENDPOINT": "embedding_endpoint",
                    "MEMGPT_EMBEDDING_MODEL": "embedding_model",
                    "MEMGPT_EMBEDDING_DIM": "embedding_dim",
                },
                {"embedding_dim"},
            )
        )
        return cls(
            home=home,
            pg_uri=env.get("MEMGPT_PG_URI") or None,
            server_password=password or secrets.token_urlsafe(16),
            password_from_env=bool(password),
            default_llm_config=llm,
            default_embedding_config=embedding,
            default_preset=defaults.get("preset", catalogue.DEFAULT_PRESET),
            default_persona=defaults.get("persona", catalogue.DEFAULT_PERSONA),
            default_human=defaults.get("human", catalogue.DEFAULT_HUMAN),
            embedded_gguf=env.get("MEMGPT_EMBEDDED_GGUF") or None,
            openai_api_key=env.get("OPENAI_API_KEY") or None,
            max_body_bytes=int(env.get("MEMGPT_MAX_BODY_BYTES", 1_048_576)),
            view_wait_seconds=float(env.get("MEMGPT_VIEW_WAIT", 10.0)),
            log_level=env.get("MEMGPT_LOG_LEVEL", "info"),
            llm_timeout=float(env.get("MEMGPT_LLM_TIMEOUT", 120.0)),
            llm_attempts=int(env.get("MEMGPT_LLM_ATTEMPTS", 4)),
            llm_backoff=float(env.get("MEMGPT_LLM_BACKOFF", 0.5)),
            turn_timeout=float(env.get("MEMGPT_TURN_TIMEOUT", 900.0)),
            run_turns=env.get("MEMGPT_RUN_TURNS", "1").lower() not in ("0", "no", "false"),
            views_process=env.get("MEMGPT_VIEWS_PROCESS", "1").lower() not in ("0", "no", "false"),
            header_timeout=float(env.get("MEMGPT_HEADER_TIMEOUT", 10.0)),
            keepalive_timeout=float(env.get("MEMGPT_KEEPALIVE_TIMEOUT", 5.0)),
            providers=_providers(env, saved, llm, embedding),
            allow_user_endpoints=_flag(env, "MEMGPT_ALLOW_USER_ENDPOINTS"),
            allow_internal_endpoints=_flag(env, "MEMGPT_ALLOW_INTERNAL_ENDPOINTS"),
            secret_key=env.get("MEMGPT_SECRET_KEY") or None,
            max_running_turns=int(env.get("MEMGPT_MAX_RUNNING_TURNS", 64)),
            max_queued_turns=int(env.get("MEMGPT_MAX_QUEUED_TURNS", 256)),
            max_streams=int(env.get("MEMGPT_MAX_STREAMS", 64)),
            rate_per_second=float(env.get("MEMGPT_RATE_PER_SECOND", 1000.0)),
            rate_burst=int(env.get("MEMGPT_RATE_BURST", 2000)),
            auth_per_minute=float(env.get("MEMGPT_AUTH_PER_MINUTE", 10.0)),
            auth_burst=int(env.get("MEMGPT_AUTH_BURST", 10)),
            turn_lease_seconds=float(env.get("MEMGPT_TURN_LEASE_SECONDS", 10.0)),
            embedding_timeout=float(env.get("MEMGPT_EMBEDDING_TIMEOUT", 30.0)),
            embedding_concurrency=int(env.get("MEMGPT_EMBEDDING_CONCURRENCY", 2)),
        )
