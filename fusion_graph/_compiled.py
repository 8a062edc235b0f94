"""The compiled fusions ``fuse()`` reuses: a bounded LRU cache keyed on everything that builds one.

``fuse(prompt, config)`` used to resolve every model and compile the graph on each call (about as
much CPU as the fusion itself). A :class:`~fusion_graph.Fusion` holds no per-run state (a run's
state lives in LangGraph's run, its rounds under a fresh key per run, a thread's in the
checkpointer), so one compiled for an equal config can serve any number of calls, concurrent ones
included: this cache keeps the :data:`FUSE_CACHE_SIZE` most recently used.

The key (:func:`fusion_key`) is a deep, hashable snapshot of what ``Fusion(...)`` is built from:

- the config, field by field, recursively: strings, numbers, booleans and ``None`` by value *and*
  type (``1`` and ``True`` differ), dicts and lists by their contents (a ``params`` dict in any key
  order is the same), a ``SecretStr`` by its secret; anything else (a chat model instance, an
  ``answer_format`` callable, an HTTP client in ``params``) by **identity**, because pydantic models
  compare by their fields (two scripted models with equal fields are still two models, each with
  its own state) and an object's ``__eq__`` says nothing about what it does;
- the tools by identity: a ``ToolRegistry`` (read at run time, so what is registered later is seen),
  or the tuple of the tools and functions of a list (a list changed later keys anew);
- the checkpointer by identity;
- the running event loop by identity: models whose client is bound to a loop (Anthropic's, Mistral's,
  a loop's connection pools) are never carried over to another loop;
- the process environment (every variable), because resolving a model reads API keys, base URLs,
  proxies and the shared-HTTP switch from it.

The key holds the objects it names, so an identity in it cannot be reused by another object while the
entry lives. The config is frozen, but its lists and dicts are not: an entry whose config was
changed in place after it was built no longer matches its key, and is built anew rather than used.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from fusion_graph.config import FusionConfig, ModelSpec

if TYPE_CHECKING:
    from fusion_graph.runner import Fusion

__all__ = ["FUSE_CACHE_SIZE", "FusionCache", "fusion_key"]

FUSE_CACHE_SIZE = 32
"""How many compiled fusions ``fuse()`` keeps (least recently used dropped first)."""

_BY_VALUE = frozenset({str, bytes, int, float, bool, type(None)})
"""Exact types compared by value (and type: ``1``, ``1.0`` and ``True`` are three keys)."""


class _Same:
    """An object compared by identity, held (so its id is not reused while the key lives)."""

    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.obj is self.obj

    def __repr__(self) -> str:
        return f"_Same({type(self.obj).__name__} at {id(self.obj):#x})"


def _freeze(value: Any) -> Hashable:
    """A hashable snapshot of ``value``: configs and containers by contents, the rest by identity."""
    kind = type(value)
    if kind in _BY_VALUE:
        return (kind, value)
    if isinstance(value, FusionConfig | ModelSpec):  # its fields, in order (a pydantic model's __dict__)
        return (kind, tuple([_freeze(field) for field in value.__dict__.values()]))
    if isinstance(value, dict):
        return (dict, frozenset([(_freeze(k), _freeze(v)) for k, v in value.items()]))  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, list | tuple):
        return (kind, tuple([_freeze(item) for item in value]))  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, SecretStr):
        return (SecretStr, value.get_secret_value())
    return _Same(value)


def fusion_key(
    config: FusionConfig,
    tools: object = None,
    checkpointer: object = None,
) -> Hashable:
    """What a ``Fusion(config, tools=, checkpointer=)`` built now, on this loop, is made from.

    Args:
        config: The fusion's config.
        tools: A tool source (by identity) or a list of tools (by the identity of each).
        checkpointer: The checkpointer (by identity), or ``None``.

    Returns:
        A hashable key: equal keys build interchangeable fusions.
    """
    try:
        loop: object = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if tools is None:
        tool_key: Hashable = None
    elif isinstance(tools, Sequence) and not isinstance(tools, str | bytes):
        tool_key = (tuple, tuple(_Same(tool) for tool in tools))  # pyright: ignore[reportUnknownVariableType]
    else:
        tool_key = _Same(tools)
    return (
        _freeze(config),
        tool_key,
        None if checkpointer is None else _Same(checkpointer),
        None if loop is None else _Same(loop),
        tuple(os.environ.items()),
    )


class FusionCache:
    """A bounded, thread-safe LRU of compiled fusions (see the module docstring for the key).

    Example:
        >>> cache = FusionCache(maxsize=4)
        >>> fusion = cache.get(config, None, None, lambda: Fusion(config))
    """

    def __init__(self, maxsize: int = FUSE_CACHE_SIZE) -> None:
        """An empty cache holding at most ``maxsize`` fusions."""
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._entries: OrderedDict[Hashable, Fusion] = OrderedDict()
        self._lock = threading.Lock()  # sync callers run fusions on another thread's loop

    def __len__(self) -> int:
        """How many fusions are kept."""
        return len(self._entries)

    def get(
        self, config: FusionConfig, tools: object, checkpointer: object, build: Callable[[], Fusion]
    ) -> Fusion:
        """The fusion kept for this config, tools, checkpointer and loop, or a new one from ``build``.

        Args:
            config: The fusion's config.
            tools: Its tools.
            checkpointer: Its checkpointer.
            build: Makes the fusion on a miss (its errors propagate; nothing is kept then).

        Returns:
            A compiled fusion.
        """
        key = fusion_key(config, tools, checkpointer)
        with self._lock:
            fusion = self._entries.get(key)
            if fusion is not None:
                self._entries.move_to_end(key)
        # The key was just taken from ``config``: the same object is unchanged since the entry was
        # built. Another (equal) config says nothing about the entry's own, which may have changed.
        if fusion is not None and (fusion.config is config or _freeze(fusion.config) == key[0]):  # pyright: ignore[reportIndexIssue]
            return fusion
        fusion = build()  # outside the lock: compiling takes milliseconds
        with self._lock:
            self._entries[key] = fusion
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
        return fusion

    def clear(self) -> None:
        """Drop every kept fusion."""
        with self._lock:
            self._entries.clear()
