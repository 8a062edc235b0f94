"""The serve file format: named fusions over shared defaults, or one pool served once per mode."""

from __future__ import annotations

import pytest

import fusion_graph.server as server_pkg
from fusion_graph import ConfigError
from fusion_graph.server import load_fusions
from fusion_graph.server._fusions import with_overrides

NAMED = """
mode = "best-of"

[judge]
model = "fake:judge"

[[pool]]
model = "fake:one"
name = "a"

[[pool]]
model = "fake:two"
name = "b"

[fusions."fusion/debate"]
mode = "debate"
rounds = 2

[fusions."fusion/best-of"]

[fusions."fusion/solo"]
pool = [{ model = "fake:three", name = "c" }]
"""


def test_named_fusions_lay_their_keys_over_the_defaults(tmp_path):
    path = tmp_path / "fusions.toml"
    path.write_text(NAMED)
    fusions = load_fusions(path)
    assert list(fusions) == ["fusion/debate", "fusion/best-of", "fusion/solo"]
    assert fusions["fusion/debate"].mode == "debate" and fusions["fusion/debate"].rounds == 2
    assert fusions["fusion/best-of"].member_names == ["a", "b"]
    assert fusions["fusion/solo"].member_names == ["c"]
    assert fusions["fusion/solo"].judge is not None and fusions["fusion/solo"].judge.label == "fake:judge"


def test_a_plain_pool_file_is_served_once_per_mode(tmp_path):
    path = tmp_path / "pool.yaml"
    path.write_text("pool:\n  - fake:one\n  - fake:two\njudge: fake:judge\n")
    fusions = load_fusions(path)
    assert {name: c.mode for name, c in fusions.items()} == {
        "fusion/best-of": "best-of",
        "fusion/merge": "merge",
        "fusion/debate": "debate",
        "fusion/vote": "vote",
    }


def test_an_invalid_fusion_is_named_in_the_error(tmp_path):
    path = tmp_path / "fusions.toml"
    path.write_text(NAMED.replace("rounds = 2", "rounds = 0"))
    with pytest.raises(ConfigError) as caught:
        load_fusions(path)
    assert caught.value.field == 'fusions."fusion/debate".rounds'


def test_member_subset_keeps_pool_order_and_rejects_unknown_names(tmp_path):
    path = tmp_path / "fusions.toml"
    path.write_text(NAMED)
    config = load_fusions(path)["fusion/best-of"]
    assert with_overrides(config, members=["b", "a"]).member_names == ["a", "b"]
    assert with_overrides(config) is config
    with pytest.raises(ConfigError, match="no member is named 'z'"):
        with_overrides(config, members=["z"])


def test_public_names():
    assert sorted(server_pkg.__all__) == [
        "create_app",
        "default_fusions",
        "load_fusions",
        "migrate_postgres",
        "postgres_checkpointer",
    ]
    for name in server_pkg.__all__:
        assert callable(getattr(server_pkg, name))
    with pytest.raises(AttributeError):
        _ = server_pkg.nope  # type: ignore[attr-defined]
