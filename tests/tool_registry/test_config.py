import pytest
from pydantic import TypeAdapter, ValidationError

from tool_registry import (
    HttpServerConfig,
    RegistryConfig,
    RegistryConfigError,
    ServerConfig,
    StdioServerConfig,
    ToolRegistry,
    load_registry_config,
)

TOML = """
[tools]
timeout = 12.5

[[tools.servers]]
name = "time"
transport = "stdio"
command = "mcp-server-time"
args = ["--local-timezone", "UTC"]
env = { TZ = "UTC" }

[[tools.servers]]
name = "docs"
transport = "streamable_http"
url = "http://127.0.0.1:8765/mcp"
headers = { Authorization = "Bearer ${DOCS_TOKEN}" }

[tools.members.alice]
allow = ["time__*"]
deny = ["*convert*"]
"""

YAML = """
tools:
  servers:
    - name: time
      transport: stdio
      command: mcp-server-time
  members:
    bob: {deny: ["*"]}
"""


def test_discriminated_by_transport():
    adapter = TypeAdapter(ServerConfig)
    stdio = adapter.validate_python({"name": "a", "transport": "stdio", "command": "x"})
    http = adapter.validate_python({"name": "b", "transport": "streamable_http", "url": "http://h/mcp"})
    assert isinstance(stdio, StdioServerConfig) and isinstance(http, HttpServerConfig)
    with pytest.raises(ValidationError):
        adapter.validate_python({"name": "a", "transport": "sse", "url": "http://h"})
    with pytest.raises(ValidationError):  # stdio fields on an http server
        adapter.validate_python({"name": "a", "transport": "streamable_http", "command": "x"})


def test_load_toml_with_env_expansion(tmp_path):
    path = tmp_path / "fusion.toml"
    path.write_text(TOML)
    cfg = load_registry_config(path, environ={"DOCS_TOKEN": "s3cret"})
    assert cfg.timeout == 12.5
    time_cfg, docs = cfg.servers
    assert isinstance(time_cfg, StdioServerConfig) and time_cfg.args == ["--local-timezone", "UTC"]
    assert isinstance(docs, HttpServerConfig) and docs.headers["Authorization"] == "Bearer s3cret"
    assert cfg.members["alice"].deny == ("*convert*",)
    registry = ToolRegistry(cfg)
    assert registry.timeout == 12.5
    assert registry.policy_for("alice").allow == ("time__*",)


def test_load_yaml(tmp_path):
    path = tmp_path / "fusion.yaml"
    path.write_text(YAML)
    cfg = RegistryConfig.from_file(path)
    assert cfg.servers[0].name == "time"
    assert ToolRegistry.from_config(path).policy_for("bob").deny == ("*",)


def test_config_errors_name_the_problem(tmp_path):
    path = tmp_path / "fusion.toml"
    path.write_text(TOML)
    with pytest.raises(RegistryConfigError, match="DOCS_TOKEN"):
        load_registry_config(path, environ={})
    path.write_text("[other]\n")
    with pytest.raises(RegistryConfigError, match=r"no \[tools\] section"):
        load_registry_config(path)
    path.write_text('[[tools.servers]]\nname = "bad name"\ncommand = "x"\n')
    with pytest.raises(RegistryConfigError, match="name"):
        load_registry_config(path)
    dup = '[[tools.servers]]\nname = "a"\ncommand = "x"\n[[tools.servers]]\nname = "a"\ncommand = "y"\n'
    path.write_text(dup)
    with pytest.raises(RegistryConfigError, match="duplicate server names"):
        load_registry_config(path)
    bad = tmp_path / "x.ini"
    bad.write_text("")
    with pytest.raises(RegistryConfigError, match="unsupported"):
        load_registry_config(bad)


def test_add_mcp_server_needs_exactly_one_transport():
    registry = ToolRegistry()
    with pytest.raises(RegistryConfigError, match="exactly one"):
        registry.add_mcp_server("x")
    with pytest.raises(RegistryConfigError, match="exactly one"):
        registry.add_mcp_server("x", command="a", url="http://h")
    registry.add_mcp_server("x", command="a")
    with pytest.raises(RegistryConfigError, match="already registered"):
        registry.add_mcp_server("x", url="http://127.0.0.1:1/mcp")
