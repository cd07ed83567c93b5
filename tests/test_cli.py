"""The command line as a user meets it: listing, info, plugins, one-line errors and exit codes."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from zoo.cli import main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_shows_local_and_entry_point_losses(capsys, monkeypatch, fresh_registry):
    monkeypatch.chdir(REPO)  # this checkout's registry.toml lists examples/my_losses.py
    code, out, err = run(capsys, "list", "losses")
    assert code == 0, err
    assert "gamma-l1" in out and "my_losses" in out
    code, out, _ = run(capsys, "list", "losses", "gamma*")
    assert "gamma-l1" in out and "spectral-l1" not in out


def test_plugins_command(capsys, monkeypatch, fresh_registry):
    monkeypatch.chdir(REPO)
    code, out, _ = run(capsys, "plugins")
    assert code == 0
    assert "zoo.losses" in out and "builtin" in out
    assert "my_losses" in out and "local" in out and "gamma-l1" in out


def test_info_shows_formula_parameters_and_plugin(capsys, monkeypatch, fresh_registry):
    monkeypatch.chdir(REPO)
    code, out, _ = run(capsys, "info", "gamma")
    assert code == 0
    assert "gamma → gamma-l1" in out and "plugin my_losses" in out
    assert "mean |x^(1/γ) − y^(1/γ)|" in out and "reduction" in out


def test_info_accepts_a_kind_first(capsys, monkeypatch, fresh_registry):
    monkeypatch.chdir(REPO)
    code, out, _ = run(capsys, "info", "losses", "gamma-l1")
    assert code == 0 and "gamma-l1" in out and "plugin my_losses" in out
    code, _, err = run(capsys, "info", "lossez", "gamma-l1")
    assert code == 2 and "lossez" in err


def test_unknown_name_one_line_error(capsys, monkeypatch, fresh_registry):
    monkeypatch.chdir(REPO)
    code, out, err = run(capsys, "info", "gama-l1")
    assert code == 2
    assert "error: unknown component 'gama-l1'. Did you mean 'gamma-l1'" in err
    assert "Traceback" not in err


def test_broken_plugin_does_not_stop_list(capsys, tmp_path, fresh_registry):
    (tmp_path / "broken.py").write_text("raise RuntimeError('kaput')\n")
    (tmp_path / "ok.py").write_text(textwrap.dedent('''
        import torch
        from zoo.hookspecs import hookimpl
        @hookimpl
        def zoo_register_losses(register):
            register("ok-loss", torch.nn.L1Loss)
    '''))
    reg = tmp_path / "registry.toml"
    reg.write_text('[plugins]\nlocal = ["broken.py", "ok.py"]\n')
    code, out, err = run(capsys, "--registry", str(reg), "list", "losses")
    assert code == 0
    assert "ok-loss" in out
    assert "plugin broken local" in err and "kaput" in err
    code, out, _ = run(capsys, "--registry", str(reg), "plugins")
    assert "kaput" in out


def test_malformed_registry_exits_2_with_file_and_line(capsys, tmp_path, fresh_registry):
    reg = tmp_path / "registry.toml"
    reg.write_text("[plugins]\ndisabled = 'x'\n")
    code, _, err = run(capsys, "--registry", str(reg), "list")
    assert code == 2
    assert f"{reg}:2: plugins.disabled must be a list of strings" in err


def test_console_script_entry_point(tmp_path):
    exe = Path(sys.executable).with_name("zoo")
    if not exe.exists():
        pytest.skip("zoo console script not installed next to this interpreter")
    res = subprocess.run([str(exe), "list", "nonsense-kind-xyz"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0  # a pattern that matches nothing is not an error
    assert "match" in res.stdout
    res = subprocess.run([str(exe), "info", "definitely-not-registered"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "unknown component" in res.stderr
