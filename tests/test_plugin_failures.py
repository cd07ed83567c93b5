"""A plugin author's failure paths: misspelled hooks, a forgotten ``@hookimpl``, a plugin that
registers nothing, a malformed hook signature, registration errors citing the plugin's line,
and a conflicted name shown as unusable by ``zoo list``."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from zoo.cli import main
from zoo.errors import UnknownNameError
from zoo.registry import build_registry

TYPO = '''
from zoo.hookspecs import hookimpl

@hookimpl
def zoo_register_loss(register):
    register("typo-loss", "torch.nn:L1Loss")
'''
NO_MARK = '''
def zoo_register_losses(register):
    register("nomark-loss", "torch.nn:L1Loss")
'''
EMPTY = '''
"""A module with no hook at all."""
X = 1
'''
SILENT = '''
from zoo.hookspecs import hookimpl

@hookimpl
def zoo_register_losses(register):
    pass
'''
BAD_SIGNATURE = '''
from zoo.hookspecs import hookimpl

@hookimpl
def zoo_register_losses(reg):
    reg("badsig-loss", "torch.nn:L1Loss")
'''
BAD_NAME = '''
from zoo.hookspecs import hookimpl

@hookimpl
def zoo_register_losses(register):
    x = 1
    register("Bad Name", "torch.nn:L1Loss")
'''
TWIN = '''
from zoo.hookspecs import hookimpl

@hookimpl
def zoo_register_losses(register):
    register("twin", "torch.nn:L1Loss")
'''


def registry_of(tmp_path: Path, **modules: str) -> Path:
    for name, body in modules.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
    toml = tmp_path / "registry.toml"
    toml.write_text("[plugins]\nlocal = [" + ", ".join(f'"{m}.py"' for m in modules) + "]\n")
    return toml


def test_misspelled_hook_is_a_notice_and_named_by_the_unknown_name_error(tmp_path):
    reg = build_registry(registry_of(tmp_path, typo=TYPO), warn=False)
    info = reg.plugins["typo"]
    assert info.notices == ["zoo_register_loss is not a zoo hook, never called; did you mean "
                            "zoo_register_losses?"]
    assert "not a zoo hook" in info.status()
    with pytest.raises(UnknownNameError) as e:
        reg.get("losses", "typo-loss")
    assert "plugin typo local: zoo_register_loss is not a zoo hook" in str(e.value)


def test_forgotten_hookimpl_and_empty_plugins_get_notices(tmp_path):
    reg = build_registry(registry_of(tmp_path, nomark=NO_MARK, empty=EMPTY, silent=SILENT),
                         warn=False)
    assert reg.plugins["nomark"].notices == ["zoo_register_losses lacks @hookimpl, never called"]
    assert reg.plugins["empty"].notices == [
        "registers nothing: no @hookimpl function (see docs/plugins.md)"]
    assert reg.plugins["silent"].notices == [
        "registers nothing: its hooks never called register()"]
    assert all(not p.notices for p in reg.plugins.values() if p.source == "builtin")


def test_bad_hook_signature_is_one_line(tmp_path):
    reg = build_registry(registry_of(tmp_path, badsig=BAD_SIGNATURE), warn=False)
    error = reg.plugins["badsig"].error
    assert error is not None and "\n" not in error
    assert "zoo_register_losses(reg) takes 'reg'" in error and "it passes: register" in error
    assert "badsig.py:" in error


def test_registration_error_cites_the_plugins_line(tmp_path):
    reg = build_registry(registry_of(tmp_path, badreg=BAD_NAME), warn=False)
    error = reg.plugins["badreg"].error
    assert error is not None and error.endswith("(badreg.py:7)"), error
    assert "specs.py" not in error


def test_zoo_plugins_shows_notices(tmp_path, capsys):
    toml = registry_of(tmp_path, typo=TYPO)
    assert main(["--registry", str(toml), "plugins"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "not a zoo" in out


def test_zoo_list_marks_a_conflicted_name_unusable(tmp_path, capsys):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "twin.py").write_text(textwrap.dedent(TWIN))
    (tmp_path / "twin.py").write_text(textwrap.dedent(TWIN))
    toml = tmp_path / "registry.toml"
    toml.write_text('[plugins]\nlocal = ["twin.py", "b/twin.py"]\n')
    assert main(["--registry", str(toml), "list", "losses", "twin"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "not usable" in out


def test_example_plugin_cites_what_its_formula_is():
    """The example's log-amplitude L1 is not the focal frequency loss: it must not cite it as
    its source (read from this checkout's file, whatever copy is installed)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "plugins" / "zoo-loss-example" / \
        "zoo_loss_example" / "__init__.py"
    spec = importlib.util.spec_from_file_location("example_plugin_source", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    seen = {}
    module.zoo_register_losses(register=lambda name, factory, **kw: seen.update({name: kw}))
    citation = seen["spectral-l1"]["citation"]
    assert citation.startswith("(classical)") and "not the focal frequency loss" in citation


def test_loss_battery_runs_over_the_registry_named_by_zoo_registry(tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / "cubes.py").write_text(textwrap.dedent('''
        import torch
        from zoo.hookspecs import hookimpl

        class Cube(torch.nn.Module):
            def __init__(self, reduction="mean"):
                super().__init__()
                self.reduction = reduction

            def forward(self, pred, target):
                d = (pred - target).abs().pow(3)
                if self.reduction == "none":
                    return d.flatten(1).mean(1)
                return d.sum() if self.reduction == "sum" else d.mean()

        @hookimpl
        def zoo_register_losses(register):
            register("battery-cube", Cube)
    '''))
    toml = tmp_path / "registry.toml"
    toml.write_text('[plugins]\nlocal = ["cubes.py"]\n')
    repo = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k != "ZOO_USER_REGISTRY"}
    env.update(ZOO_REGISTRY=str(toml), PYTHONPATH=str(repo))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0",
                        "-W", "ignore", str(repo / "tests" / "losses" / "test_battery.py"),
                        "-k", "battery-cube"], cwd=repo, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "deselected" in r.stdout, r.stdout[-500:]
    passed = int(r.stdout.strip().splitlines()[-1].split(" passed")[0].split()[-1])
    assert passed >= 5, r.stdout[-500:]


NEEDS = '''
import torch
from zoo.hookspecs import hookimpl

class NeedsAlpha(torch.nn.Module):
    def __init__(self, alpha, beta=2.0):
        super().__init__()

    def forward(self, pred, target):
        return (pred - target).abs()

@hookimpl
def zoo_register_losses(register):
    register("needs-alpha", NeedsAlpha)
'''


def test_zoo_info_marks_required_parameters(tmp_path, capsys):
    toml = registry_of(tmp_path, needs=NEEDS)
    assert main(["--registry", str(toml), "info", "needs-alpha"]) == 0
    rows = {line.split("│")[1].strip(): line for line in capsys.readouterr().out.splitlines()
            if line.count("│") > 2}
    assert "required" in rows["alpha"] and "None" not in rows["alpha"]
    assert "2.0" in rows["beta"]


def test_a_non_scalar_loss_is_blamed_on_the_loss_not_on_reduction(tmp_path):
    import torch

    from zoo.errors import ConfigError
    from zoo.losses.composer import LossComposer

    reg = build_registry(registry_of(tmp_path, needs=NEEDS), warn=False)
    x = torch.rand(1, 3, 8, 8)
    composer = LossComposer([{"name": "needs-alpha", "args": {"alpha": 1.0}}], registry=reg)
    with pytest.raises(ConfigError) as e:
        composer({"pred": x, "target": x * 0.5, "gt": x * 0.5})
    assert "fix the forward of NeedsAlpha" in str(e.value)
    assert "use reduction" not in str(e.value)
