"""Plugin loading: entry points, local modules from registry.toml, isolation of broken plugins."""
from __future__ import annotations

import importlib.metadata as md
import textwrap
from pathlib import Path

import pytest
import torch

import zoo
from zoo import plugins
from zoo.errors import PluginError
from zoo.plugins import build_registry, load_errors

REPO = Path(__file__).resolve().parents[1]

GOOD = '''
from zoo.hookspecs import hookimpl
import torch

class Cube(torch.nn.Module):
    """Mean cubed absolute error."""
    def forward(self, pred, target):
        return (pred - target).abs().pow(3).mean()

@hookimpl
def zoo_register_losses(register):
    register("cube", Cube, formula="mean |x-y|^3", citation="test")
'''


def write(tmp_path: Path, name: str, body: str) -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(body))
    return p


def registry_with(tmp_path: Path, *modules: str, extra: str = "") -> zoo.registry.Registry:
    toml = tmp_path / "registry.toml"
    listed = ", ".join(f'"{m}"' for m in modules)
    toml.write_text(f"[plugins]\nlocal = [{listed}]\n{extra}")
    return build_registry(toml)


def test_local_module_loss(tmp_path):
    write(tmp_path, "good.py", GOOD)
    reg = registry_with(tmp_path, "good.py")
    spec = reg.get("losses", "cube")
    assert spec.plugin == "good"
    assert reg.plugins["good"].source == "local"
    x, y = torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 2.0)
    assert reg.create("losses", "cube")(x, y).item() == 8.0
    assert ("losses", "cube") in reg.plugins["good"].registered


def test_repo_registry_toml_registers_example_local_module():
    reg = build_registry(REPO / "registry.toml")
    assert reg.get("losses", "gamma-l1").plugin == "my_losses"
    assert reg.get("losses", "gamma").name == "gamma-l1"  # alias from registry.toml
    loss = reg.create("losses", "gamma")
    assert loss.gamma == 2.2
    x = torch.rand(1, 3, 8, 8)
    assert loss(x, x).item() == 0.0
    # |1^(1/2.2) - 0.25^(1/2.2)| by hand
    a, b = torch.ones(1, 1, 1, 1), torch.full((1, 1, 1, 1), 0.25)
    assert torch.allclose(loss(a, b), torch.tensor(1 - 0.25 ** (1 / 2.2)))


def test_import_error_is_isolated_and_named(tmp_path):
    write(tmp_path, "good.py", GOOD)
    write(tmp_path, "broken.py", "import not_a_module_anywhere\n")
    reg = registry_with(tmp_path, "broken.py", "good.py")
    assert "cube" in reg.names("losses")
    errors = load_errors(reg)
    assert len(errors) == 1 and "broken" in errors[0] and "not_a_module_anywhere" in errors[0]


def test_raising_hook_registers_nothing(tmp_path):
    write(tmp_path, "half.py", '''
        from zoo.hookspecs import hookimpl
        import torch
        @hookimpl
        def zoo_register_losses(register):
            register("half-done", torch.nn.L1Loss)
            raise RuntimeError("boom")
    ''')
    reg = registry_with(tmp_path, "half.py")
    assert "half-done" not in reg.names("losses")
    assert "boom" in reg.plugins["half"].error and "hook failed" in reg.plugins["half"].error


def test_duplicate_name_is_an_error_naming_both_plugins(tmp_path):
    write(tmp_path, "one.py", GOOD)
    write(tmp_path, "two.py", GOOD)
    reg = registry_with(tmp_path, "one.py", "two.py")
    assert "'one'" in reg.plugins["two"].error and "'two'" in reg.plugins["two"].error
    with pytest.raises(PluginError, match="registered by both 'one' and 'two'"):
        reg.create("losses", "cube")


def test_disabled_plugin_is_not_loaded(tmp_path):
    write(tmp_path, "good.py", GOOD)
    reg = registry_with(tmp_path, "good.py", extra='disabled = ["good"]\n')  # same [plugins] table
    assert reg.plugins["good"].disabled
    assert "cube" not in reg.names("losses")


def test_bad_registration_rejected(tmp_path):
    write(tmp_path, "badname.py", '''
        from zoo.hookspecs import hookimpl
        @hookimpl
        def zoo_register_metrics(register):
            register("Bad Name", lambda: None, direction="higher")
    ''')
    reg = registry_with(tmp_path, "badname.py")
    assert "invalid metric name" in reg.plugins["badname"].error


def test_metric_needs_direction(tmp_path):
    write(tmp_path, "nodir.py", '''
        from zoo.hookspecs import hookimpl
        @hookimpl
        def zoo_register_metrics(register):
            register("my-metric", lambda: None)
    ''')
    reg = registry_with(tmp_path, "nodir.py")
    assert "direction" in reg.plugins["nodir"].error


class _FakeDist:
    def __init__(self, name, version):
        self.name, self.version = name, version


class _FakeEP:
    def __init__(self, name, value, loader, dist):
        self.name, self.value, self._loader, self.dist = name, value, loader, dist

    def load(self):
        return self._loader()


def test_entry_point_plugins_and_broken_one(tmp_path, monkeypatch):
    mod = write(tmp_path, "ep_mod.py", GOOD)
    import importlib.util

    def load_good():
        spec = importlib.util.spec_from_file_location("ep_mod", mod)
        m = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(m)
        return m

    def load_broken():
        raise ImportError("missing dependency 'frobnicate'")

    eps = [_FakeEP("good", "ep_mod", load_good, _FakeDist("zoo-good", "1.2.3")),
           _FakeEP("bad", "bad_mod", load_broken, _FakeDist("zoo-bad", "0.0.1"))]
    monkeypatch.setattr(plugins.md, "entry_points",
                        lambda group=None: eps if group == plugins.ENTRY_POINT_GROUP else [])
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    reg = build_registry(empty)
    assert reg.get("losses", "cube").plugin == "zoo-good"
    assert reg.plugins["zoo-good"].version == "1.2.3"
    errors = load_errors(reg)
    assert errors == ["plugin zoo-bad 0.0.1: failed to load: ImportError: missing dependency "
                      "'frobnicate' (test_plugins.py:" + errors[0].split("test_plugins.py:")[1]]


def test_installed_example_plugin_is_found_by_entry_point():
    if not any(ep.value == "zoo_loss_example" for ep in md.entry_points(group="zoo")):
        pytest.skip("plugins/zoo-loss-example is not installed")
    reg = build_registry()
    assert reg.get("losses", "spectral-l1").plugin == "zoo-loss-example"
