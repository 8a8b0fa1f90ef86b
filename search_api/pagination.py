"""The one way a paginated endpoint reads ``page`` and ``size`` from the query string."""

from __future__ import annotations

from typing import Mapping

from indexer.store import MAX_PAGE_SIZE, Page

from .errors import InvalidParameter

DEFAULT_PAGE_SIZE = 10
# Deepest result served, as Elasticsearch's ``index.max_result_window``: collecting the top
# ``offset + size`` hits costs memory in proportion, so ``page=10**9`` must not reach the store.
MAX_RESULT_WINDOW = 10_000


def _int_arg(args: Mapping[str, str], name: str, default: int) -> int:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw, 10)
    except ValueError:
        raise InvalidParameter(name, f"{name} must be a whole number, got {raw[:40]!r}") from None


def page_from_args(args: Mapping[str, str]) -> Page:
    """The requested page: ``page`` (1-based, default 1) and ``size`` (1 to ``MAX_PAGE_SIZE``,
    default 10).

    Raises:
        InvalidParameter: not a whole number, out of range, or deeper than ``MAX_RESULT_WINDOW``.
            A page past the end of the results is the store's :class:`PageOutOfRange`.
    """
    number = _int_arg(args, "page", 1)
    size = _int_arg(args, "size", DEFAULT_PAGE_SIZE)
    if number < 1:
        raise InvalidParameter("page", f"page must be 1 or more, got {number}")
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidParameter("size", f"size must be between 1 and {MAX_PAGE_SIZE}, got {size}",
                               max=MAX_PAGE_SIZE)
    if number * size > MAX_RESULT_WINDOW:
        raise InvalidParameter("page", f"only the first {MAX_RESULT_WINDOW} results can be paged "
                               "through; narrow the query with lang:, license: or repo: filters",
                               max_result_window=MAX_RESULT_WINDOW)
    return Page(number, size)
