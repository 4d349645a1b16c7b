"""All configuration, read in one place: the file `memgpt configure` writes, then the environment,
which overrides it."""

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from api import settings_file
from domain import catalogue

DEFAULT_USER_ID = UUID("00000000-0000-0000-0000-000000000000")

# New agents use these unless MEMGPT_* variables say otherwise: the embedded model and embedder,
# so a fresh install works offline with no prior configuration.
EMBEDDED_LLM: dict[str, Any] = {
    "model": "qwen2.5-coder-1.5b-instruct-q4_k_m",
    "model_endpoint_type": "local",
    "model_endpoint": None,
    "model_wrapper": None,
    "context_window": 8192,
}
EMBEDDED_EMBEDDING: dict[str, Any] = {
    "embedding_endpoint_type": "local",
    "embedding_endpoint": None,
    "embedding_model": "all-MiniLM-L6-v2",
    "embedding_dim": 384,
    "embedding_chunk_size": 300,
}


def _overrides(env: Mapping[str, str], names: Mapping[str, str], ints: set[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for variable, key in names.items():
        if env.get(variable):
            found[key] = int(env[variable]) if key in ints else env[variable]
    return found


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
    view_wait_seconds: float = 5.0  # how long a write waits for its views before answering with X-Views-Lag
    log_level: str = "info"
    llm_timeout: float = 120.0  # seconds for one model call
    llm_attempts: int = 4  # tries per model call on 429/5xx/connection errors
    llm_backoff: float = 0.5  # seconds before the second try; doubles after each failure
    turn_timeout: float = 900.0  # how long a non-streamed request waits for its turn to end
    run_turns: bool = True  # run turns in this process (off when `memgpt worker`s do it)
    header_timeout: float = 10.0  # seconds for a whole request head, from connecting or the previous response
    keepalive_timeout: float = 5.0  # seconds an idle connection is kept open between requests

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
            view_wait_seconds=float(env.get("MEMGPT_VIEW_WAIT", 5.0)),
            log_level=env.get("MEMGPT_LOG_LEVEL", "info"),
            llm_timeout=float(env.get("MEMGPT_LLM_TIMEOUT", 120.0)),
            llm_attempts=int(env.get("MEMGPT_LLM_ATTEMPTS", 4)),
            llm_backoff=float(env.get("MEMGPT_LLM_BACKOFF", 0.5)),
            turn_timeout=float(env.get("MEMGPT_TURN_TIMEOUT", 900.0)),
            run_turns=env.get("MEMGPT_RUN_TURNS", "1").lower() not in ("0", "no", "false"),
            header_timeout=float(env.get("MEMGPT_HEADER_TIMEOUT", 10.0)),
            keepalive_timeout=float(env.get("MEMGPT_KEEPALIVE_TIMEOUT", 5.0)),
        )
