import importlib

import pytest

PUBLIC = {
    "fusion_graph": {
        "Analysis",
        "Calibration",
        "CalibrationEntry",
        "Decision",
        "Reliability",
        "RuleScore",
        "DebateVerdict",
        "Dissent",
        "AllMembersFailed",
        "BestOfVerdict",
        "Candidate",
        "CostEstimate",
        "CandidateScore",
        "ConfigError",
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
        "Usage",
        "UsageReport",
        "QuorumNotReached",
        "StructuredOutputError",
        "ThreadConflict",
        "create_fusion_graph",
        "estimate_cost",
        "fuse",
        "load_config",
    },
    "fusion_graph.testing": {
        "Fault",
        "ModelScript",
        "OpenAIStubServer",
        "ScriptedChatModel",
        "Step",
        "Turn",
        "count_tokens",
        "sample_from_schema",
    },
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_all_is_exactly_the_public_names(module):
    mod = importlib.import_module(module)
    assert set(mod.__all__) == PUBLIC[module]
    for name in mod.__all__:
        assert getattr(mod, name) is not None


def test_py_typed_markers_ship():
    from importlib.resources import files

    assert files("fusion_graph").joinpath("py.typed").is_file()
    assert files("tool_registry").joinpath("py.typed").is_file()
