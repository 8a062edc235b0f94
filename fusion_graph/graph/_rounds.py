"""What the members of one round share while they run: the quorum, the deadline and the budget.

Process-local by design. A coordinator lives in memory, in the ``RoundRegistry`` of one compiled
graph (one ``FusionRuntime``), under the ``round_key`` that the round's ``Send`` payloads carry
(:class:`~fusion_graph.state.MemberTask`); it is not graph state and is never checkpointed. It holds
only what the round's member tasks need while they run concurrently (an ``asyncio.Event`` cannot be
checkpointed), and it is dropped once the last of them returns (a weak reference).

On a resume (another process, another ``Fusion``, or the same one after the failed run's tasks are
gone) LangGraph re-runs only the round's member tasks that wrote nothing; the first of them creates
a fresh coordinator from the payload: the deadline counts from the resume, ``answered`` counts only
the re-run members, and the spare budget is the payload's ``spare_usd`` again. With a deadline, a
quorum larger than the re-run members can reach then never releases the stragglers early: each runs
to its own ``timeout`` instead. The answers saved before the failure are all kept; ``gather`` (or
the judge) checks the quorum over the whole round, from state.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from fusion_graph.providers.samples import SampleGroup

__all__ = ["RoundCoordinator", "RoundRegistry"]


@dataclass(eq=False)
class RoundCoordinator:
    """Counts answers of a round, says when stragglers may be cancelled, and holds spare budget."""

    size: int
    quorum: int
    deadline: float | None
    spare_usd: float | None
    started: float = field(default_factory=time.monotonic)
    answered: int = 0
    running: int = 0
    """Member tasks of this round running now."""
    elicitations: dict[str, asyncio.Future[Any]] = field(default_factory=dict)
    """MCP elicitation requests met this round, by request key: the first asker's outcome
    (see ``nodes._elicitation``), so that the user is asked once per request."""
    _quorum_in: asyncio.Event = field(default_factory=asyncio.Event)
    _samples: dict[str, SampleGroup] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.quorum = max(1, min(self.quorum, self.size))

    def join(self) -> None:
        """A member task of this round starts (see :meth:`leave`)."""
        self.running += 1

    def leave(self) -> None:
        """A member task of this round ends, answered, failed or paused by an interrupt.

        When none is left running, this attempt at the round is over: the elicitation outcomes
        are forgotten, so that a resumed round (which may get this same coordinator back while
        it is still referenced) asks afresh and takes the resume value.
        """
        self.running -= 1
        if self.running <= 0:
            self.elicitations.clear()

    def finished(self, ok: bool) -> None:
        """A member is done; ``ok`` when it answered."""
        if ok:
            self.answered += 1
            if self.answered >= self.quorum:
                self._quorum_in.set()

    async def stragglers_may_stop(self) -> None:
        """Return once the deadline has passed and the quorum is in (never, without a deadline)."""
        if self.deadline is None:
            await asyncio.Event().wait()
            return
        await asyncio.sleep(max(0.0, self.started + self.deadline - time.monotonic()))
        await self._quorum_in.wait()

    def sample_group(self, member: str, size: int) -> SampleGroup:
        """The round's samples of ``member`` (``size`` of them), where a provider may decode them together."""
        group = self._samples.get(member)
        if group is None:
            group = self._samples[member] = SampleGroup(size)
        return group

    def take(self, usd: float) -> bool:
        """Take ``usd`` from the round's spare budget; ``False`` when it would not fit."""
        if self.spare_usd is None:
            return True
        if usd > self.spare_usd + 1e-12:
            return False
        self.spare_usd -= usd
        return True


class RoundRegistry:
    """The coordinators of rounds in flight, by round key; a finished round is forgotten by itself.

    Process-local: one registry per compiled graph, in memory (see the module docstring for what a
    resumed round gets).
    """

    def __init__(self) -> None:
        self._rounds: weakref.WeakValueDictionary[str, RoundCoordinator] = weakref.WeakValueDictionary()

    def get(
        self, key: str, *, size: int, quorum: int, deadline: float | None, spare_usd: float | None
    ) -> RoundCoordinator:
        """The round's coordinator, created by the first member that asks."""
        coordinator = self._rounds.get(key)
        if coordinator is None:
            coordinator = RoundCoordinator(size=size, quorum=quorum, deadline=deadline, spare_usd=spare_usd)
            self._rounds[key] = coordinator
        return coordinator
