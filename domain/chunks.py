"""Splitting long texts into passages of at most `embedding_chunk_size` tokens.

Splits at paragraph breaks, then sentence ends, then spaces, and packs the pieces greedily, so a
passage is a run of whole sentences wherever that fits. The token counter is the embedding
model's own (passed in: this module does no I/O).
"""

import re
from collections.abc import Callable

from domain.configs import EmbeddingConfig

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _fits(text: str, limit: int, count: Callable[[str], int]) -> bool:
    """count(text) <= limit, without counting a long text whole (tokenizers slow down on very long
    inputs): if a prefix that ends at a space already counts more, the whole text does too."""
    window = 64 * limit
    if len(text) > window:
        cut = text.rfind(" ", 0, window)
        if cut > 0 and count(text[:cut]) > limit:
            return False
    return count(text) <= limit


def _runs(words: list[str], limit: int, count: Callable[[str], int]) -> list[str]:
    """Words packed into runs of at most `limit` tokens. Each distinct word is counted once and
    a run's count taken as the sum (exact for whitespace-split tokenizers), so a long run-on
    sentence costs time linear in its length; each run is then counted whole, and halved in the
    rare case a tokenizer counts the joined words higher than their sum."""
    known: dict[str, int] = {}
    groups: list[list[str]] = []
    group: list[str] = []
    total = 0
    for word in words:
        size = known.get(word)
        if size is None:
            size = known[word] = count(word)
        if group and total + size > limit:
            groups.append(group)
            group, total = [], 0
        group.append(word)
        total += size
    if group:
        groups.append(group)

    def fit(run: list[str]) -> list[str]:
        joined = " ".join(run)
        if len(run) == 1 or count(joined) <= limit:
            return [joined]
        half = len(run) // 2
        return fit(run[:half]) + fit(run[half:])

    return [text for g in groups for text in fit(g)]


def _pieces(text: str, limit: int, count: Callable[[str], int]) -> list[tuple[str, str]]:
    """Units no longer than `limit` tokens — paragraphs, or their sentences, or runs of their
    words — each with the separator that joins it to the unit before."""
    out: list[tuple[str, str]] = []
    for paragraph in (p.strip() for p in re.split(r"\n\s*\n", text)):
        if not paragraph:
            continue
        if _fits(paragraph, limit, count):
            out.append((paragraph, "\n\n"))
            continue
        separator = "\n\n"
        for sentence in _SENTENCE_END.split(paragraph):
            for run in _runs(sentence.split(), limit, count) if not _fits(sentence, limit, count) else [sentence]:
                out.append((run, separator))
                separator = " "
    return out


def chunk(text: str, limit: int, count: Callable[[str], int]) -> list[str]:
    """Passages of at most `limit` tokens (a single over-long word stays whole)."""
    passages: list[str] = []
    current = ""
    for piece, separator in _pieces(text, limit, count):
        joined = f"{current}{separator}{piece}" if current else piece
        if current and count(joined) > limit:
            passages.append(current)
            current = piece
        else:
            current = joined
    if current:
        passages.append(current)
    return passages


def by_config(text: str, config: EmbeddingConfig, count: Callable[[str], int]) -> list[str]:
    """Passages as the configuration's embedder takes them: of at most its `embedding_chunk_size`."""
    return chunk(text, config.chunk_size, count)
