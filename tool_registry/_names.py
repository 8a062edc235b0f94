"""Final tool names: namespacing, sanitising to ``[A-Za-z0-9_-]{1,64}`` and collisions."""

from __future__ import annotations

import hashlib
import re

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_LEN = 64
SEPARATOR = "__"
_BAD = re.compile(r"[^A-Za-z0-9_-]")


def _digest(text: str, n: int) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:n]


def sanitize(name: str) -> str:
    """Map any string to ``[A-Za-z0-9_-]{1,64}``, deterministically.

    Every other character becomes ``_``. A name longer than 64 is cut to 55 characters plus
    ``_`` and 8 hex digits of the SHA-256 of the unsanitised name, so long names stay distinct.
    """
    clean = _BAD.sub("_", name) or "tool"
    if len(clean) > MAX_LEN:
        clean = f"{clean[:55]}_{_digest(name, 8)}"
    return clean


def final_name(original: str, server: str | None) -> str:
    """The preferred final name of a tool: ``server__tool`` (or just ``tool``), sanitised."""
    return sanitize(f"{server}{SEPARATOR}{original}" if server else original)


def disambiguate(preferred: str, identity: str) -> str:
    """The name a tool gets when ``preferred`` is already taken by another tool.

    ``preferred`` (cut to 57) + ``_`` + 6 hex digits of the SHA-256 of ``identity``
    (``"<server or python>:<original name>"``): stable whatever the order of discovery.
    """
    return f"{preferred[:57]}_{_digest(identity, 6)}"
