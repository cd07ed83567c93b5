"""The command line as a user meets it: listing, info, plugins, one-line errors and exit codes.

The session's ZOO_REGISTRY (tests/conftest.py) names examples/registry.toml, which lists
examples/my_losses.py."""
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
    monkeypatch.chdir(REPO)
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
    assert "warning: plugin broken local: failed to load: RuntimeError: kaput" in err
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


# ----------------------------------------------------------------------------------- the group
def write_plugin(folder: Path, body: str, *, name: str = "plug.py", extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(body))
    reg = folder / "registry.toml"
    reg.write_text(f'[plugins]\nlocal = ["{name}"]\n{extra}')
    return reg


COMMAND_PLUGIN = '''
import click
import zoo
from zoo.commands import pass_registry
from zoo.hookspecs import hookimpl

@hookimpl
def zoo_register_commands(cli):
    @cli.command("hello")
    @pass_registry
    def hello(registry):
        """Say hello with the registry's loss count."""
        same = registry is zoo.get_registry()
        click.echo(f"hello {len(registry.names('losses'))} {same}")

    @cli.command("list")
    def shadow():
        """Would shadow the built-in list."""
'''


def test_plugin_commands_get_the_registry_the_group_built(capsys, tmp_path):
    reg = write_plugin(tmp_path, COMMAND_PLUGIN)
    code, out, err = run(capsys, "--registry", str(reg), "hello")
    assert code == 0, err
    count = len(__import__("zoo").registry.build_registry(reg, warn=False).names("losses"))
    assert out.strip() == f"hello {count} True"
    code, out, _ = run(capsys, "--registry", str(reg), "--help")
    assert "hello" in out and "Say hello" in out
    code, out, _ = run(capsys, "--registry", str(reg), "plugins")
    assert "commands: hello" in out and "command 'list' already exists" in out


def test_builtin_commands_come_through_the_hook(capsys, tmp_path):
    reg = tmp_path / "registry.toml"
    reg.write_text('[plugins]\ndisabled = ["zoo.commands"]\n')
    code, _, err = run(capsys, "--registry", str(reg), "list")
    assert code == 2 and "No such command 'list'" in err


def test_version_loads_no_plugin(capsys, tmp_path, monkeypatch):
    reg = write_plugin(tmp_path, '''
        from pathlib import Path
        Path(__file__).with_name("imported.marker").write_text("yes")
    ''')
    code, out, _ = run(capsys, "--registry", str(reg), "--version")
    assert code == 0 and "restoration-zoo, version" in out
    monkeypatch.setenv("ZOO_REGISTRY", str(reg))
    code, out, _ = run(capsys, "--version")
    assert code == 0 and not (tmp_path / "imported.marker").exists()
    code, out, _ = run(capsys, "list", "losses", "l1")
    assert code == 0 and (tmp_path / "imported.marker").exists()


def test_list_imports_no_torch(tmp_path):
    code = ("import sys; from zoo.cli import main; rc = main(['list']); "
            "print(rc, sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'torchvision', 'kornia', 'timm', 'lpips')))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "0 []"


# ----------------------------------------------------------------------------------- trust
def test_untrusted_folder_gets_one_notice_and_can_be_trusted(capsys, tmp_path, monkeypatch):
    folder = tmp_path / "experiment"
    write_plugin(folder, '''
        from pathlib import Path
        from zoo.hookspecs import hookimpl
        Path(__file__).with_name("imported.marker").write_text("yes")

        @hookimpl
        def zoo_register_losses(register):
            register("marked", "torch.nn:L1Loss", doc="marker loss")
    ''')
    monkeypatch.chdir(folder)
    monkeypatch.delenv("ZOO_REGISTRY", raising=False)
    monkeypatch.setenv("ZOO_CONFIG_DIR", str(tmp_path / "config"))
    code, out, err = run(capsys, "list", "losses", "marked")
    assert code == 0 and "no losses match" in out
    assert not (folder / "imported.marker").exists()
    notices = [line for line in err.splitlines() if line.startswith("notice:")]
    assert notices == ["notice: registry.toml lists local plugins (plug.py) and is not trusted: "
                       "skipped. Trust it with `zoo plugins trust registry.toml`, or name it: "
                       "`zoo --registry registry.toml ...`"]
    code, out, err = run(capsys, "plugins", "trust")
    assert code == 0 and "trusted" in out and "plug.py" in out and err == ""
    assert not (folder / "imported.marker").exists()  # trusting runs nothing
    code, out, err = run(capsys, "list", "losses", "marked")
    assert code == 0 and "marked" in out and "notice" not in err
    code, out, _ = run(capsys, "plugins")
    assert f"{folder / 'registry.toml'} (trusted)" in out
    code, out, _ = run(capsys, "plugins", "untrust")
    assert "no longer trusted" in out


def test_trusting_a_malformed_file_is_refused(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CONFIG_DIR", str(tmp_path / "config"))
    bad = tmp_path / "registry.toml"
    bad.write_text("[plugins]\nlocal = 'x.py'\n")
    code, _, err = run(capsys, "plugins", "trust", str(bad))
    assert code == 2 and "plugins.local must be a list of strings" in err
    assert not (tmp_path / "config").exists()


# ----------------------------------------------------------------------------------- info
def test_info_fills_parameter_descriptions_of_builtins(capsys):
    code, out, _ = run(capsys, "info", "losses", "charbonnier")
    assert code == 0
    assert "smoothing constant" in out and "one value per image" in out
    assert "Charbonnier et al., ICIP 1994" in out
    assert "tests/losses/test_pixel.py::test_charbonnier_by_hand" in out


def test_info_exits_nonzero_when_it_prints_an_error(capsys, tmp_path):
    reg = write_plugin(tmp_path, '''
        from zoo.hookspecs import hookimpl
        @hookimpl
        def zoo_register_losses(register):
            register("ghost", "no_such_module_anywhere:Ghost", doc="A loss whose code is gone.")
    ''')
    code, out, err = run(capsys, "--registry", str(reg), "info", "ghost")
    assert code == 2
    assert "A loss whose code is gone." in out
    assert "error: loss 'ghost' from plugin 'plug': cannot import" in err
    assert err.count("error:") == 1


def test_broken_plugin_is_visible_from_info(capsys, tmp_path):
    reg = write_plugin(tmp_path, "raise ImportError('needs frobnicate')\n")
    code, _, err = run(capsys, "--registry", str(reg), "info", "l1")
    assert code == 0 and "warning: plugin plug local: failed to load: ImportError: needs " \
                         "frobnicate" in err
    code, _, err = run(capsys, "--registry", str(reg), "info", "census")
    assert code == 2
    assert "error: unknown component 'census' — plugin plug local failed to load: ImportError: " \
           "needs frobnicate" in err
    code, _, err = run(capsys, "--registry", str(reg), "info", "losses", "census")
    assert code == 2 and "unknown loss 'census' — plugin plug local failed to load" in err


def test_third_party_recipe_summary_is_its_description(capsys, tmp_path):
    (tmp_path / "mine.toml").write_text('description = "My own two-stage recipe"\n')
    reg = write_plugin(tmp_path, '''
        from zoo.hookspecs import hookimpl
        @hookimpl
        def zoo_register_recipes(register):
            register("mine", "mine.toml")
    ''')
    code, out, _ = run(capsys, "--registry", str(reg), "list", "recipes", "mine")
    assert code == 0 and "My own two-stage recipe" in out and "Path subclass" not in out


def test_run_names_the_failed_plugin_in_its_unknown_name_error(capsys, tmp_path):
    standins = REPO / "tests" / "engine" / "standins"
    (tmp_path / "broken.py").write_text("raise ImportError('needs frobnicate')\n")
    reg = tmp_path / "registry.toml"
    reg.write_text(textwrap.dedent(f'''
        [plugins]
        disabled = ["zoo.losses", "zoo.losses.perceptual", "zoo.encoders", "zoo.models",
                    "zoo.data", "zoo.metrics"]
        local = ["{standins / 'plugin.py'}", "broken.py"]
    '''))
    code, _, err = run(capsys, "--registry", str(reg), "run", "recipe",
                       str(standins / "tiny.toml"), "--dry-run",
                       "--set", "stages.reference.model=edge-net")
    assert code == 2 and "Traceback" not in err
    assert "unknown model 'edge-net' — plugin broken local failed to load: ImportError: needs " \
           "frobnicate" in err
