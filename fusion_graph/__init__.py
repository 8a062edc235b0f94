"""fusion-graph: one prompt through a pool of LLMs, one better answer, as a LangGraph graph."""

from typing import TYPE_CHECKING, Any

from fusion_graph.calibration import Calibration, CalibrationEntry, Reliability, RuleScore
from fusion_graph.chat_model import FusionChatModel
from fusion_graph.config import FusionConfig, Judge, Member, load_config
from fusion_graph.errors import (
    AllMembersFailed,
    ConfigError,
    FusionError,
    FusionRunError,
    JudgeFailed,
    MemberFailed,
    ProviderNotInstalled,
    QuorumNotReached,
    StructuredOutputError,
    ThreadConflict,
)
from fusion_graph.graph import create_fusion_graph
from fusion_graph.node import FusionNode
from fusion_graph.result import Candidate, Decision, Dissent, FusionResult
from fusion_graph.runner import Fusion, fuse
from fusion_graph.usage import CostEstimate, Usage, UsageReport, estimate_cost
from fusion_graph.verdicts import Analysis, BestOfVerdict, CandidateScore, DebateVerdict, MergeVerdict

if TYPE_CHECKING:
    from fusion_graph.middleware import FusionMiddleware

__all__ = [
    "AllMembersFailed",
    "Analysis",
    "BestOfVerdict",
    "Calibration",
    "CalibrationEntry",
    "Candidate",
    "CandidateScore",
    "ConfigError",
    "CostEstimate",
    "DebateVerdict",
    "Decision",
    "Dissent",
    "Fusion",
    "FusionChatModel",
    "FusionConfig",
    "FusionError",
    "FusionMiddleware",
    "FusionNode",
    "FusionResult",
    "FusionRunError",
    "Judge",
    "JudgeFailed",
    "Member",
    "MemberFailed",
    "MergeVerdict",
    "ProviderNotInstalled",
    "QuorumNotReached",
    "Reliability",
    "RuleScore",
    "StructuredOutputError",
    "ThreadConflict",
    "Usage",
    "UsageReport",
    "create_fusion_graph",
    "estimate_cost",
    "fuse",
    "load_config",
]


def __getattr__(name: str) -> Any:
    # FusionMiddleware needs LangChain's agents (an optional extra): loaded on first use.
    if name == "FusionMiddleware":
        try:
            from fusion_graph.middleware import FusionMiddleware
        except ImportError as exc:
            raise ImportError(
                "FusionMiddleware needs LangChain v1 agents: pip install 'fusion-graph[agents]'"
            ) from exc
        return FusionMiddleware
    raise AttributeError(f"module 'fusion_graph' has no attribute {name!r}")
