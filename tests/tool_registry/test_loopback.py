"""The one loopback check, shared by the registry's MCP server and ``fusion serve``."""

import pytest

from tool_registry.server import is_loopback


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "[::]", "10.0.0.1", "example.test", "", "localhost.test"])
def test_other_hosts_are_remote(host: str) -> None:
    assert not is_loopback(host)


def test_fusion_serve_uses_the_same_check() -> None:
    from fusion_graph.server import _limits

    assert _limits.is_loopback is is_loopback
