"""Paging of short in-memory lists (humans, personas, presets, tools, models, keys) the same way
the views page long ones: `limit`, and `after` the last name of the previous page."""

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def after_name(items: Sequence[T], name_of: Callable[[T], str], after: str | None, limit: int | None) -> list[T]:
    start = 0
    if after is not None:
        names = [name_of(item) for item in items]
        start = names.index(after) + 1 if after in names else len(items)
    return list(items[start : start + limit if limit else None])


def next_cursor(ids: Sequence[T], limit: int | None) -> T | None:
    """The id to pass as `after` for the next page, when this page was full."""
    return ids[-1] if limit and len(ids) == limit else None
