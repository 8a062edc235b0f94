"""Fitting text into a model's context window (the token estimate is :mod:`fusion_graph.usage`'s)."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.messages import BaseMessage, SystemMessage

from fusion_graph.usage import CHARS_PER_TOKEN, messages_tokens

__all__ = ["condense", "fit_messages"]


def condense(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars`` by removing its middle (beginnings and conclusions both matter)."""
    if len(text) <= max_chars:
        return text
    marker = f"\n[… {len(text) - max_chars} characters cut to fit the context window …]\n"
    keep = max(0, max_chars - len(marker))
    head = keep * 2 // 3
    return text[:head] + marker + text[len(text) - (keep - head) :]


def fit_messages(messages: Sequence[BaseMessage], budget_tokens: int) -> tuple[list[BaseMessage], list[str]]:
    """Fit a conversation into ``budget_tokens``: drop the oldest turns, then condense the longest.

    System messages and the last message are never dropped.

    Returns:
        The fitted messages and a note for each cut.
    """
    kept = list(messages)
    notes: list[str] = []
    dropped = 0
    while messages_tokens(kept) > budget_tokens:
        droppable = [i for i, m in enumerate(kept[:-1]) if not isinstance(m, SystemMessage)]
        if not droppable:
            break
        del kept[droppable[0]]
        dropped += 1
    if dropped:
        notes.append(f"dropped the {dropped} oldest message(s)")
    while messages_tokens(kept) > budget_tokens:
        index = max(range(len(kept)), key=lambda i: len(kept[i].text))
        excess = (messages_tokens(kept) - budget_tokens) * CHARS_PER_TOKEN
        before = len(kept[index].text)
        target = max(0, before - excess - 64)
        if target >= before or before == 0:
            break
        kept[index] = kept[index].model_copy(update={"content": condense(kept[index].text, target)})
        notes.append(f"condensed message {index} from {before} to {len(kept[index].text)} characters")
    return kept, notes
