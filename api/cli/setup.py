"""`memgpt configure` and `memgpt quickstart`: write the defaults new agents get.

`configure` takes flags (for scripts) and asks for whatever was not given when a person is at the
terminal; `quickstart` writes a complete, working set in one go.
"""

import argparse
import sys
from typing import Any

from domain import catalogue
from runtime import settings_file
from runtime.config import EMBEDDED_EMBEDDING, EMBEDDED_LLM, Config

QUICKSTARTS: dict[str, dict[str, dict[str, Any]]] = {
    "embedded": {"model": EMBEDDED_LLM, "embedding": EMBEDDED_EMBEDDING},
    "openai": {
        "model": {
            "model": "gpt-4",
            "model_endpoint_type": "openai",
            "model_endpoint": "https://api.openai.com/v1",
            "model_wrapper": None,
            "context_window": 8192,
        },
        "embedding": {
            "embedding_endpoint_type": "openai",
            "embedding_endpoint": "https://api.openai.com/v1",
            "embedding_model": "text-embedding-ada-002",
            "embedding_dim": 1536,
            "embedding_chunk_size": 300,
        },
    },
}

_CHOICES = {"preset": catalogue.PRESETS, "persona": catalogue.PERSONAS, "human": catalogue.HUMANS}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for section, keys in settings_file.SECTIONS.items():
        for key in keys:
            kind = int if key in settings_file.INTEGERS else str
            parser.add_argument(f"--{key.replace('_', '-')}", dest=key, type=kind, help=f"[{section}] {key}")


def _ask(key: str, current: Any) -> Any:
    shown = "" if current is None else str(current)
    answer = input(f"{key} [{shown}]: ").strip()
    if not answer:
        return current
    return int(answer) if key in settings_file.INTEGERS else answer


def configure(args: argparse.Namespace, config: Config) -> int:
    interactive = sys.stdin.isatty()
    current = {
        "defaults": {"preset": config.default_preset, "persona": config.default_persona, "human": config.default_human},
        "model": dict(config.default_llm_config),
        "embedding": dict(config.default_embedding_config),
    }
    for section, keys in settings_file.SECTIONS.items():
        for key in keys:
            given = getattr(args, key)
            if given is not None:
                current[section][key] = given
            elif interactive:
                current[section][key] = _ask(key, current[section].get(key))
    for key, allowed in _CHOICES.items():
        if current["defaults"][key] not in allowed:
            print(f"Unknown {key} {current['defaults'][key]!r}; choose one of: {', '.join(allowed)}", file=sys.stderr)
            return 2
    print(f"Saved configuration to {settings_file.write(config.home, current)}")
    return 0


def quickstart(args: argparse.Namespace, config: Config) -> int:
    chosen = QUICKSTARTS[args.backend]
    values = {
        "defaults": {
            "preset": catalogue.DEFAULT_PRESET,
            "persona": catalogue.DEFAULT_PERSONA,
            "human": catalogue.DEFAULT_HUMAN,
        },
        **chosen,
    }
    path = settings_file.write(config.home, values)
    print(f"Saved the {args.backend} quickstart configuration to {path}")
    if args.backend == "openai":
        print("Set OPENAI_API_KEY in the environment of `memgpt server`.")
    return 0
