"""An agent's `llm_config` and `embedding_config`, typed, with their defaults in one place.

Events (`memgpt.Agent.Created`, `memgpt.Source.Created`), views and the wire keep them as the
plain dicts MemGPT 0.3.x spells; code that needs a field converts the dict where it reads it
(`from_dict`) and a field left out or null falls back to the one default here. `to_dict` gives the
stored dict back as it was, keys the server does not know (a client's, an older event's) and key
order included, so converting never loses or reshapes what was stored.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Self

LOCAL_TYPES = frozenset({"local", "embedded", "hugging-face"})  # endpoint types served without an endpoint
EMBEDDED_CHAT_TYPES = frozenset({"local", "embedded"})  # the embedded chat model's; hugging-face is an endpoint
DEFAULT_ENDPOINT_TYPE = "openai"  # the protocol of an endpoint whose config names none
DEFAULT_CONTEXT_WINDOW = 8192
DEFAULT_EMBEDDING_DIM = 1536  # text-embedding-ada-002's, the endpoint model of 0.3.x
DEFAULT_CHUNK_SIZE = 300  # tokens per archival passage
_OPTIONAL = frozenset({"provider", "api_key_sealed"})  # stored only when set
_OWN = frozenset({"extra", "stored_keys"})  # bookkeeping, never a stored key


class _Stored:
    """Conversion from and to the stored dict, shared by both configurations."""

    extra: dict[str, Any]
    stored_keys: tuple[str, ...] | None

    @classmethod
    def _known(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.name not in _OWN]

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> Self:
        """Any stored shape: missing keys read as null, unknown ones are kept in `extra`."""
        known = set(cls._known())
        return cls(
            **{k: v for k, v in stored.items() if k in known},
            extra={k: v for k, v in stored.items() if k not in known},
            stored_keys=tuple(stored),
        )

    def to_dict(self) -> dict[str, Any]:
        """The dict to store or show. Read from a dict: its keys in their order, then any field set
        since. Built here: every field but the optional ones left unset."""
        values = {k: getattr(self, k) for k in self._known()}
        keys = self.stored_keys
        if keys is None:
            keys = tuple(k for k, v in values.items() if k not in _OPTIONAL or v is not None)
        out = {k: values[k] if k in values else self.extra[k] for k in keys if k in values or k in self.extra}
        out |= {k: v for k, v in values.items() if k not in out and v is not None}
        return out | {k: v for k, v in self.extra.items() if k not in out}


@dataclass(frozen=True, kw_only=True)
class LLMConfig(_Stored):
    """Which chat model an agent talks to, and where."""

    model: str | None = None
    model_endpoint_type: str | None = None
    model_endpoint: str | None = None  # a URL, or the name of one of the operator's providers
    model_wrapper: str | None = None
    context_window: int | None = None
    provider: str | None = None  # the operator's provider, once the server chose it
    api_key_sealed: str | None = field(default=None, repr=False)  # the user's own key, sealed
    extra: dict[str, Any] = field(default_factory=dict)
    stored_keys: tuple[str, ...] | None = field(default=None, repr=False, compare=False)

    @property
    def window(self) -> int:
        return int(self.context_window or DEFAULT_CONTEXT_WINDOW)

    @property
    def endpoint_type(self) -> str:
        """As given (providers and the model list show it so)."""
        return self.model_endpoint_type or DEFAULT_ENDPOINT_TYPE

    @property
    def endpoint_kind(self) -> str:
        """The type compared against known ones: lower case."""
        return self.endpoint_type.lower()

    @property
    def endpoint(self) -> str | None:
        return self.model_endpoint

    @property
    def model_name(self) -> str | None:
        return self.model

    @property
    def embedded(self) -> bool:
        """Served by the embedded model: a local type and no provider chosen."""
        return self.endpoint_kind in EMBEDDED_CHAT_TYPES and not self.provider


@dataclass(frozen=True, kw_only=True)
class EmbeddingConfig(_Stored):
    """Which embedding model an agent's (or a source's) passages are embedded with, and in what sizes."""

    embedding_endpoint_type: str | None = None
    embedding_endpoint: str | None = None  # a URL, or the name of one of the operator's providers
    embedding_model: str | None = None
    embedding_dim: int | None = None
    embedding_chunk_size: int | None = None
    provider: str | None = None
    api_key_sealed: str | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)
    stored_keys: tuple[str, ...] | None = field(default=None, repr=False, compare=False)

    @property
    def dim(self) -> int:
        return int(self.embedding_dim or DEFAULT_EMBEDDING_DIM)

    @property
    def chunk_size(self) -> int:
        return int(self.embedding_chunk_size or DEFAULT_CHUNK_SIZE)

    @property
    def endpoint_type(self) -> str:
        return self.embedding_endpoint_type or DEFAULT_ENDPOINT_TYPE

    @property
    def endpoint_kind(self) -> str:
        return self.endpoint_type.lower()

    @property
    def endpoint(self) -> str | None:
        return self.embedding_endpoint

    @property
    def model_name(self) -> str | None:
        return self.embedding_model

    @property
    def local(self) -> bool:
        """Served by the embedded embedder: a local type and no provider chosen. Unlike an
        endpoint's, a config naming no type at all is the embedded embedder's, as it always was."""
        return (self.embedding_endpoint_type or "local").lower() in LOCAL_TYPES and not self.provider


# What new agents get unless the operator configures otherwise: the embedded model and embedder,
# so a fresh install works offline.
EMBEDDED_LLM = LLMConfig(
    model="qwen2.5-coder-1.5b-instruct-q4_k_m",
    model_endpoint_type="local",
    model_endpoint=None,
    model_wrapper=None,
    context_window=8192,
)
EMBEDDED_EMBEDDING = EmbeddingConfig(
    embedding_endpoint_type="local",
    embedding_endpoint=None,
    embedding_model="all-MiniLM-L6-v2",
    embedding_dim=384,
    embedding_chunk_size=300,
)
