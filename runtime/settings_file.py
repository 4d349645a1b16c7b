"""The configuration file `memgpt configure` and `memgpt quickstart` write: `$MEMGPT_HOME/config`.

INI, as MemGPT's own: `[defaults]` (preset, persona, human), `[model]` (the LLM config of new
agents) and `[embedding]`; and any number of operator providers, `[provider.NAME]` with
`endpoint_type`, `endpoint`, `models` (comma-separated; empty: any) and `api_key_env` (the name of
the environment variable holding its key). Secrets never go in it; keys come from the environment.
"""

import configparser
from pathlib import Path
from typing import Any

SECTIONS = {
    "defaults": ("preset", "persona", "human"),
    "model": ("model", "model_endpoint_type", "model_endpoint", "model_wrapper", "context_window"),
    "embedding": (
        "embedding_endpoint_type",
        "embedding_endpoint",
        "embedding_model",
        "embedding_dim",
        "embedding_chunk_size",
    ),
}
INTEGERS = {"context_window", "embedding_dim", "embedding_chunk_size"}
PROVIDER = "provider."
PROVIDER_KEYS = ("endpoint_type", "endpoint", "models", "api_key_env")


def path(home: Path) -> Path:
    return home / "config"


def read(home: Path) -> dict[str, dict[str, Any]]:
    """{section: {key: value}} for the keys the file sets; empty values mean null."""
    parser = configparser.ConfigParser()
    parser.read(path(home))
    found: dict[str, dict[str, Any]] = {}
    for section, keys in SECTIONS.items():
        if not parser.has_section(section):
            continue
        values: dict[str, Any] = {}
        for key in keys:
            if parser.has_option(section, key):
                raw = parser.get(section, key).strip()
                values[key] = (int(raw) if key in INTEGERS else raw) if raw else None
        found[section] = values
    providers = {
        section.removeprefix(PROVIDER): {
            k: parser.get(section, k).strip() for k in PROVIDER_KEYS if parser.has_option(section, k)
        }
        for section in parser.sections()
        if section.startswith(PROVIDER) and section.removeprefix(PROVIDER)
    }
    if providers:
        found["providers"] = providers
    return found


def write(home: Path, values: dict[str, dict[str, Any]]) -> Path:
    """Writes the three sections; the operator's `[provider.NAME]` sections already in the file are kept."""
    parser = configparser.ConfigParser()
    parser.read(path(home))
    for section, keys in SECTIONS.items():
        if not parser.has_section(section):
            parser.add_section(section)
        for key in keys:
            value = values.get(section, {}).get(key)
            parser.set(section, key, "" if value is None else str(value))
    home.mkdir(parents=True, exist_ok=True)
    with path(home).open("w") as f:
        parser.write(f)
    return path(home)
