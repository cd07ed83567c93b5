"""TOML loading, --set overrides and registry.toml validation: errors name file, line and key."""
from __future__ import annotations

import pytest

from zoo.config import apply_overrides, load_registry_config, load_toml, parse_override
from zoo.errors import ConfigError

CFG = {"seed": 0, "lr": 1e-3, "name": "x", "flags": {"amp": False}, "layers": [1, 2]}


def test_parse_override_types():
    assert parse_override("a.b=3") == ("a.b", 3)
    assert parse_override("a=0.5") == ("a", 0.5)
    assert parse_override("a=true") == ("a", True)
    assert parse_override("a=[1, 2]") == ("a", [1, 2])
    assert parse_override("a=some/path.pt") == ("a", "some/path.pt")


def test_apply_overrides_checks_keys_and_types():
    out = apply_overrides(CFG, ["lr=1", "flags.amp=true", "name=y"])
    assert out["lr"] == 1.0 and isinstance(out["lr"], float)
    assert out["flags"]["amp"] is True and out["name"] == "y"
    assert CFG["lr"] == 1e-3  # input untouched
    with pytest.raises(ConfigError, match="unknown key.*did you mean seed"):
        apply_overrides(CFG, ["sede=1"])
    with pytest.raises(ConfigError, match="expected int"):
        apply_overrides(CFG, ["seed=fast"])
    with pytest.raises(ConfigError, match="expected bool"):
        apply_overrides(CFG, ["flags.amp=1"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        apply_overrides(CFG, ["seed"])


def test_malformed_toml_names_file_and_line(tmp_path):
    p = tmp_path / "r.toml"
    p.write_text("[plugins]\ndisabled = [\"a\",\nlocal = 3\n")
    with pytest.raises(ConfigError, match=r"r.toml: invalid TOML: .*line"):
        load_toml(p)


def test_registry_schema_errors_name_line_and_key(tmp_path):
    p = tmp_path / "registry.toml"
    p.write_text("# comment\n[plugins]\nenabled = ['x']\n")
    with pytest.raises(ConfigError, match=r"registry.toml:3: unknown key plugins.enabled"):
        load_registry_config(p)
    p.write_text("[plugin]\nlocal = []\n")
    with pytest.raises(ConfigError, match=r"registry.toml:1: unknown section \[plugin\].*plugins"):
        load_registry_config(p)
    p.write_text("[defaults.losses]\nl1 = 3\n")
    with pytest.raises(ConfigError, match=r"registry.toml:2: defaults.losses.l1 must be a table"):
        load_registry_config(p)


def test_missing_registry_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_registry_config(tmp_path / "nope.toml")


def test_with_context_keeps_the_error_type():
    from zoo.config import with_context
    from zoo.errors import UnknownNameError

    err = with_context(UnknownNameError("datasets", "synthetic-denoize", ["synthetic-denoise"]),
                       "data.train")
    assert isinstance(err, UnknownNameError)
    assert str(err).startswith("data.train: unknown datasets 'synthetic-denoize'")


def test_apply_overrides_indexes_lists():
    cfg = {"terms": [{"name": "l1", "weight": 1.0}, {"name": "tv", "weight": 0.1}],
           "freeze": []}
    out = apply_overrides(cfg, ["terms.1.weight=0.5", "terms.0.name=l2", "freeze=all"])
    assert out["terms"] == [{"name": "l2", "weight": 1.0}, {"name": "tv", "weight": 0.5}]
    assert out["freeze"] == "all"  # a string may stand for a list; the typed parser decides
    assert cfg["terms"][1]["weight"] == 0.1  # input untouched
    with pytest.raises(ConfigError, match=r"terms has 2 item\(s\) \(indices 0 to 1\)"):
        apply_overrides(cfg, ["terms.2.weight=1"])
    with pytest.raises(ConfigError, match=r"terms is a list; address an item by its index"):
        apply_overrides(cfg, ["terms.tv.weight=1"])
    with pytest.raises(ConfigError, match="expected float"):
        apply_overrides(cfg, ["terms.0.weight=heavy"])
    with pytest.raises(ConfigError, match="terms.0.name is not a table"):
        apply_overrides(cfg, ["terms.0.name.x=1"])
