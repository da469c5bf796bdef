"""Server-side pagination of a list, and the query-string parameters pages read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence
from urllib.parse import urlencode

__all__ = ["PAGE_SIZE", "BadQuery", "Page", "paginate", "page_number", "positive_int"]

PAGE_SIZE = 50


class BadQuery(ValueError):
    """A query-string parameter the catalog cannot read (answered with 400)."""


@dataclass(frozen=True)
class Page:
    """One page of a longer list, with the links to its neighbours."""

    items: Sequence[Any]
    number: int
    pages: int
    total: int
    prev_url: str | None
    next_url: str | None


def positive_int(params: Mapping[str, str], key: str, default: int | None = None) -> int | None:
    """``params[key]`` as an integer >= 0, or ``default`` when absent; BadQuery when it is not one."""
    raw = params.get(key, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise BadQuery(f"'{key}' must be a whole number, not '{raw}'")
    return int(raw)


def page_number(params: Mapping[str, str]) -> int:
    return positive_int(params, "page", 1) or 1


def paginate(items: Sequence[Any], params: Mapping[str, str], path: str, size: int = PAGE_SIZE) -> Page:
    """The page ``params['page']`` (1 first) of ``items``; BadQuery past the last page."""
    number = page_number(params)
    pages = max(1, -(-len(items) // size))
    if number > pages:
        raise BadQuery(f"page {number} does not exist: there are {pages}")

    def link(n: int) -> str:
        return path + "?" + urlencode({**{k: v for k, v in params.items() if v}, "page": n})

    return Page(
        items=items[(number - 1) * size : number * size],
        number=number,
        pages=pages,
        total=len(items),
        prev_url=link(number - 1) if number > 1 else None,
        next_url=link(number + 1) if number < pages else None,
    )
