"""Reliabilities learned from history, without labels, kept in a LangGraph ``BaseStore``.

With ``FusionConfig(learn_reliability=True)`` each decision updates two kinds of counts in the
graph's store (``Fusion(store=…)``, an ``InMemoryStore`` by default), under the namespace
``("fusion_graph", "reliability", <pool key>, <task tag>)``:

* ``member:<name>``: how often the member's final answer matched the fused one (comparable answers);
* ``judge:<name>``: how often the judge's pick held when the order was reversed (checked picks only).

An estimate is the counts' mean shrunk to the prior with :data:`PRIOR_STRENGTH` pseudo-items, so a
few fusions barely move it. What history cannot learn: a judge that is consistently wrong holds its
picks and looks like a good one, and members that share a wrong answer agree with each other. So
learned weights never lift the two-thirds cap (:mod:`fusion_graph.graph._decision`): only labels do.

A store that fails is logged once per call and the fusion goes on with the prior.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from langgraph.store.base import BaseStore

from fusion_graph.config import FusionConfig

__all__ = ["PRIOR_STRENGTH", "estimates", "namespace", "record"]

log = logging.getLogger("fusion_graph")

PRIOR_STRENGTH = 20.0
"""How many pseudo-items the prior is worth: an estimate moves halfway to the data after 20 items."""


def namespace(config: FusionConfig) -> tuple[str, ...]:
    """The store namespace of a pool (its members' models and names, and the judge) and task tag."""
    parts = [f"{m.name}={m.model}" for m in config.pool] + [f"judge={config.effective_judge.label}"]
    pool = hashlib.sha256("|".join(sorted(parts)).encode()).hexdigest()[:16]
    return ("fusion_graph", "reliability", pool, config.task_tag or "_")


async def estimates(
    store: BaseStore, config: FusionConfig, priors: Mapping[str, float]
) -> dict[str, float] | None:
    """The shrunk estimates for each key of ``priors`` (``member:<name>``, ``judge:<name>``).

    Returns ``None`` when the store fails (logged): the caller uses the prior.
    """
    space = namespace(config)
    out: dict[str, float] = {}
    try:
        for key, prior in priors.items():
            item = await store.aget(space, key)
            hits, total = _counts(item.value if item is not None else None)
            out[key] = (prior * PRIOR_STRENGTH + hits) / (PRIOR_STRENGTH + total)
    except Exception as exc:  # any store: its failure must not fail the fusion
        log.warning("fusion: the reliability store failed (%s: %s); using the prior", type(exc).__name__, exc)
        return None
    return out


async def record(store: BaseStore, config: FusionConfig, observations: Mapping[str, bool]) -> None:
    """Add one observation per key (``True``: agreed / held). A failing store is logged."""
    space = namespace(config)
    try:
        for key, hit in observations.items():
            item = await store.aget(space, key)
            hits, total = _counts(item.value if item is not None else None)
            await store.aput(space, key, {"hits": hits + int(hit), "total": total + 1})
    except Exception as exc:
        log.warning(
            "fusion: could not update the reliability store (%s: %s); this fusion is not learned from",
            type(exc).__name__,
            exc,
        )


def _counts(value: Any) -> tuple[float, float]:
    if not isinstance(value, Mapping):
        return 0.0, 0.0
    hits, total = value.get("hits", 0), value.get("total", 0)
    if not isinstance(hits, int | float) or not isinstance(total, int | float) or not 0 <= hits <= total:
        return 0.0, 0.0
    return float(hits), float(total)
