"""Splitting long texts into passages of at most `embedding_chunk_size` tokens.

Splits at paragraph breaks, then sentence ends, then spaces, and packs the pieces greedily, so a
passage is a run of whole sentences wherever that fits. The token counter is the embedding
model's own (passed in: this module does no I/O).
"""

import re
from collections.abc import Callable

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _pieces(text: str, limit: int, count: Callable[[str], int]) -> list[tuple[str, str]]:
    """Units no longer than `limit` tokens — paragraphs, or their sentences, or runs of their
    words — each with the separator that joins it to the unit before."""
    out: list[tuple[str, str]] = []
    for paragraph in (p.strip() for p in re.split(r"\n\s*\n", text)):
        if not paragraph:
            continue
        if count(paragraph) <= limit:
            out.append((paragraph, "\n\n"))
            continue
        separator = "\n\n"
        for sentence in _SENTENCE_END.split(paragraph):
            words: list[str] = []
            for word in sentence.split() if count(sentence) > limit else [sentence]:
                if words and count(" ".join([*words, word])) > limit:
                    out.append((" ".join(words), separator))
                    separator, words = " ", []
                words.append(word)
            if words:
                out.append((" ".join(words), separator))
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
