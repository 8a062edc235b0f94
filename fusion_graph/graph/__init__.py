"""The fusion as a LangGraph ``StateGraph``: the graph's shape, its nodes and what they share.

``build`` wires the graph; ``nodes/`` holds the member, gather and judge nodes. The private modules
are the engine's internals, used only inside this package: ``_runtime`` (resolved models, tools and
settings of one graph), ``_rounds`` (the per-round coordinator, process-local), ``_context``
(fitting prompts into a context window) and ``_similarity`` (answer agreement).

Where dependencies live:

- Bound when the graph is built (closures over one ``FusionRuntime``): the resolved member and
  judge models, their provider profiles, the tools, the bound tool schemas and the round registry.
  They are not LangGraph run context (``context_schema`` / ``Runtime.context``) on purpose: a fusion
  graph embeds as a subgraph in a user's graph, and a subgraph run as a node receives its parent's
  context (``Runtime.merge`` keeps the parent's ``context`` when the subgraph is given none), so a
  fusion context schema would be handed the user's context object. Resolving the models once at
  build time is also what reports a bad config (``ConfigError``) before any run.
- Run-scoped: what a run's ``RunnableConfig`` says. ``configurable["thread_id"]`` (the checkpointer's
  thread), ``configurable["fusion_stream_answer"]`` (``nodes.judge.STREAM_ANSWER``: a merge writes
  its answer in a second, streamed call; set by ``Fusion.stream`` with ``messages`` mode and by
  ``fusion serve``) and ``configurable["fusion_response_format"]`` (``structured.RESPONSE_FORMAT``:
  members answer in the schema and the judge node decides field by field; set by ``Fusion.run`` /
  ``Fusion.stream`` from their ``response_format``). ``configurable`` passes from a parent graph to
  the subgraph unchanged, so these keys work embedded too; they are namespaced (``fusion_``) so as
  not to meet a user's keys.
- Per round, outside graph state: the round coordinator (quorum count, deadline, spare budget),
  keyed by the ``round_key`` of the ``Send`` payload; process-local, see ``_rounds``.
"""

from fusion_graph.graph._decision import replay
from fusion_graph.graph._runtime import ToolSource
from fusion_graph.graph.build import build_graph, create_fusion_graph

__all__ = ["ToolSource", "build_graph", "create_fusion_graph", "replay"]
