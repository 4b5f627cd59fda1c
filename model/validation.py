"""How a refused input reads for people: field paths and pydantic's messages, never the values.

Owns `describe()`, used wherever something a user wrote fails to parse (the
watcher's InvalidSpec, a malformed `backup` signal or Update): the input may
hold a secret (spec.adminPassword), so no value is ever echoed.
"""

from __future__ import annotations

from pydantic import ValidationError

__all__ = ["describe"]


def describe(err: ValidationError, *, prefix: str = "") -> str:
    """`<prefix>.field.path: message; ...` (no prefix: `field.path: message`)."""
    parts = []
    for error in err.errors(include_input=False, include_url=False):
        path = ".".join([*([prefix] if prefix else []), *(str(p) for p in error["loc"])])
        # A validator's ValueError reads as its own message, without pydantic's prefix.
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{path}: {message}" if path else message)
    return "; ".join(parts)
