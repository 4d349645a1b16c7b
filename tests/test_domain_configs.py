"""`domain.configs`: the typed `llm_config`/`embedding_config`. Events and the wire keep the dicts,
so converting must give every stored shape back unchanged, and the defaults must be the ones the
server always used."""

import json
from dataclasses import replace
from typing import Any

from domain import chunks
from domain.configs import EMBEDDED_EMBEDDING, EMBEDDED_LLM, EmbeddingConfig, LLMConfig
from tests.log_fixture import fixture_paths, read_fixture, stored_state


def test_null_or_missing_fields_read_as_the_defaults() -> None:
    for llm in (LLMConfig(), LLMConfig.from_dict({}), LLMConfig.from_dict({"context_window": None})):
        assert (llm.window, llm.endpoint_type, llm.endpoint_kind) == (8192, "openai", "openai")
        assert not llm.embedded
    for embedding in (EmbeddingConfig(), EmbeddingConfig.from_dict({"embedding_dim": None})):
        assert (embedding.dim, embedding.chunk_size, embedding.endpoint_kind) == (1536, 300, "openai")
        assert embedding.local, "a config naming no endpoint type embeds with the embedded embedder"


def test_endpoint_types_compare_in_lower_case_but_show_as_given() -> None:
    llm = LLMConfig.from_dict({"model_endpoint_type": "Local"})
    assert (llm.endpoint_type, llm.endpoint_kind, llm.embedded) == ("Local", "local", True)
    assert not LLMConfig.from_dict({"model_endpoint_type": "local", "provider": "default"}).embedded
    assert not LLMConfig.from_dict({"model_endpoint_type": "hugging-face"}).embedded, "an endpoint's type"
    assert EmbeddingConfig.from_dict({"embedding_endpoint_type": "hugging-face"}).local
    assert not EmbeddingConfig.from_dict({"embedding_endpoint_type": "openai"}).local


def test_the_embedded_defaults_are_the_dicts_new_agents_always_stored() -> None:
    llm = {
        "model": "qwen2.5-coder-1.5b-instruct-q4_k_m",
        "model_endpoint_type": "local",
        "model_endpoint": None,
        "model_wrapper": None,
        "context_window": 8192,
    }
    embedding = {
        "embedding_endpoint_type": "local",
        "embedding_endpoint": None,
        "embedding_model": "all-MiniLM-L6-v2",
        "embedding_dim": 384,
        "embedding_chunk_size": 300,
    }
    assert list(EMBEDDED_LLM.to_dict().items()) == list(llm.items())
    assert list(EMBEDDED_EMBEDDING.to_dict().items()) == list(embedding.items())
    assert EMBEDDED_LLM.embedded and EMBEDDED_EMBEDDING.local


def test_a_stored_dict_comes_back_unchanged_unknown_and_missing_keys_included() -> None:
    stored = {"context_window": None, "zeta": [1, 2], "model": "gpt-4", "provider": "default", "extra": "x"}
    llm = LLMConfig.from_dict(stored)
    assert (llm.model, llm.provider, llm.window, llm.extra) == (
        "gpt-4",
        "default",
        8192,
        {"zeta": [1, 2], "extra": "x"},
    )
    assert list(llm.to_dict().items()) == list(stored.items()), "same keys, same order, no null added"
    assert LLMConfig.from_dict(stored) == llm


def test_a_field_set_after_reading_is_added_last_as_the_server_adds_it() -> None:
    stored = {"model": "gpt-4", "model_endpoint": "http://x/v1"}
    chosen = replace(LLMConfig.from_dict(stored), provider="default", model_endpoint="http://y/v1")
    assert list(chosen.to_dict().items()) == [
        ("model", "gpt-4"),
        ("model_endpoint", "http://y/v1"),
        ("provider", "default"),
    ]


def test_a_built_config_stores_its_optional_fields_only_when_set() -> None:
    assert "provider" not in LLMConfig(model="m").to_dict()
    assert "api_key_sealed" not in EmbeddingConfig().to_dict()
    assert LLMConfig(model="m", api_key_sealed="sealed").to_dict()["api_key_sealed"] == "sealed"
    assert "sealed" not in repr(LLMConfig(api_key_sealed="sealed")), "never in logs"


def _configs(value: Any, found: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in ("llm_config", "embedding_config") and isinstance(inner, dict):
                found.append((key, inner))
            else:
                _configs(inner, found)
    elif isinstance(value, list):
        for inner in value:
            _configs(inner, found)
    return found


def test_every_recorded_shape_reads_and_comes_back_unchanged() -> None:
    """The configs of the recorded log's events (with and without `provider`, with a sealed key)
    and of its views."""
    found: list[tuple[str, dict[str, Any]]] = []
    for path in fixture_paths():
        fixture = read_fixture(path)
        for event in fixture["events"]:
            _configs(json.loads(stored_state(event)), found)
        _configs(fixture["views"], found)
    kinds = {"llm_config": LLMConfig, "embedding_config": EmbeddingConfig}
    assert {k for k, _ in found} == set(kinds)
    for key, stored in found:
        config = kinds[key].from_dict(stored)
        assert list(config.to_dict().items()) == list(stored.items())
        assert not config.extra, f"every recorded key is a known field: {stored}"
    sealed = [LLMConfig.from_dict(s) for k, s in found if k == "llm_config" and "api_key_sealed" in s]
    assert sealed and all(c.api_key_sealed and not c.provider for c in sealed)
    windows = {LLMConfig.from_dict(s).window for k, s in found if k == "llm_config"}
    assert {8192, 4086} <= windows
    assert 8 in {EmbeddingConfig.from_dict(s).dim for k, s in found if k == "embedding_config"}


def test_text_is_chunked_by_the_configs_chunk_size() -> None:
    def words(text: str) -> int:
        return len(text.split())

    text = " ".join(f"word{i}" for i in range(700))
    assert [words(p) for p in chunks.by_config(text, EmbeddingConfig(embedding_chunk_size=250), words)] == [
        250,
        250,
        200,
    ]
    assert [words(p) for p in chunks.by_config(text, EmbeddingConfig.from_dict({}), words)] == [300, 300, 100]
