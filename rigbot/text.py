"""Values from untrusted files, shown in error messages: ``short_repr``, the one way rigbot cuts a repr short.

No imports beyond the standard library, so every reader (configs, weights, recordings, ROS messages) can use it.
"""
from __future__ import annotations

from typing import Any, Iterator

SHORT_REPR_CHARS = 80  # how much of a refused value an error message shows


def _repr_pieces(value: Any, limit: int) -> Iterator[str]:
    """repr(value) in pieces, lazily: a caller that stops early never builds the rest (shared aliases can make a
    small document expand to billions of items)."""
    if isinstance(value, dict):
        yield "{"
        for i, (k, v) in enumerate(value.items()):
            yield ", " if i else ""
            yield from _repr_pieces(k, limit)
            yield ": "
            yield from _repr_pieces(v, limit)
        yield "}"
    elif isinstance(value, (list, tuple)):
        yield "[" if isinstance(value, list) else "("
        for i, v in enumerate(value):
            yield ", " if i else ""
            yield from _repr_pieces(v, limit)
        yield "]" if isinstance(value, list) else ("," if len(value) == 1 else "") + ")"
    elif isinstance(value, (str, bytes)):
        text = repr(value[:limit + 1])
        yield text if len(value) <= limit else text[:-1]  # an open quote: it goes on
    elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        yield f"<an integer of {value.bit_length()} bits>"  # repr of a huge int is slow, or refused outright
    else:
        yield repr(value)[:limit + 1]


def short_repr(value: Any, limit: int = SHORT_REPR_CHARS) -> str:
    """repr(value), cut to about ``limit`` characters (then '...') without building the whole of it."""
    out, n = [], 0
    for piece in _repr_pieces(value, limit):
        out.append(piece)
        n += len(piece)
        if n > limit:
            return "".join(out)[:limit] + "..."
    return "".join(out)
