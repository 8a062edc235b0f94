import subprocess
import sys
from pathlib import Path

import tool_registry


def test_all_is_exactly_the_public_names():
    public = {n for n in dir(tool_registry) if not n.startswith("_")}
    modules = {
        "adapt",
        "config",
        "convert",
        "elicitation",
        "errors",
        "mcp_client",
        "mistral_native",
        "models",
        "registry",
        "server",
    }
    assert set(tool_registry.__all__) == public - modules
    assert len(tool_registry.__all__) == len(set(tool_registry.__all__))


def test_py_typed_marker():
    assert (Path(tool_registry.__file__).parent / "py.typed").exists()


def test_import_does_no_work():
    code = (
        "import threading, sys; import tool_registry; "
        "assert threading.active_count() == 1, threading.enumerate(); "
        "from tool_registry import ToolRegistry; assert len(ToolRegistry()) == 0"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_error_tree():
    from tool_registry import errors as e

    assert issubclass(e.ToolTimeout, e.ToolCallError)
    assert issubclass(e.ToolNotAllowed, e.ToolNotFound)
    assert issubclass(e.DuplicateToolName, e.RegistryConfigError)
    for name in e.__all__:
        assert issubclass(getattr(e, name), e.ToolRegistryError)
