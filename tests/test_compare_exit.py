"""``zoo compare``'s exit status: 0 when every cell is ok, 1 when a cell failed (the table is
still written), 2 for bad input before anything trains."""
from __future__ import annotations

import textwrap
from pathlib import Path

import zoo
from zoo.cli import main
from zoo.commands.compare import EXIT_FAILED, exit_status
from zoo.compare.runner import RunSummary

PLUGIN = '''
import torch
from torch import nn
from zoo.hookspecs import hookimpl


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return x + self.conv(x)


class LateBoom(nn.Module):
    """Fine on its first call (a pre-flight passes), raises from the second on."""

    calls = 0

    def forward(self, pred, target):
        LateBoom.calls += 1
        if LateBoom.calls > 1:
            raise RuntimeError("late-boom fails on its second call")
        return (pred - target).abs().mean()


@hookimpl
def zoo_register_models(register):
    register("exit-tiny", TinyNet)


@hookimpl
def zoo_register_losses(register):
    register("late-boom", LateBoom)
'''


def registry_file(tmp_path: Path) -> Path:
    (tmp_path / "exit_plugin.py").write_text(PLUGIN)
    toml = tmp_path / "registry.toml"
    toml.write_text('[plugins]\nlocal = ["exit_plugin.py"]\n')
    return toml


def compare_args(toml: Path, out: Path, losses: str) -> list[str]:
    return ["--registry", str(toml), "compare", "--tasks", "denoise", "--losses", losses,
            "--model", "exit-tiny", "--seeds", "1", "--steps", "3", "--size", "16",
            "--batch-size", "1", "--train-length", "2", "--test-length", "1", "--metrics",
            "psnr", "--jobs", "1", "--out", str(out)]


def test_a_failed_cell_exits_1_and_the_table_is_written(tmp_path, capsys):
    toml = registry_file(tmp_path)
    try:
        code = main(compare_args(toml, tmp_path / "cmp", "l1,late-boom"))
    finally:
        zoo.reset_registry()
    out = capsys.readouterr().out
    assert code == EXIT_FAILED == 1, out
    assert "FAILED" in out and "1 failed" in out
    assert (tmp_path / "cmp" / "results.md").is_file()


def test_exit_status_of_a_summary():
    ok = RunSummary(results={"a": {"status": "ok"}})
    exit_status(ok)  # raises nothing
    failed = RunSummary(results={"a": {"status": "ok"}, "b": {"status": "failed"}})
    try:
        exit_status(failed)
    except zoo.errors.ReportedError as e:
        assert e.exit_code == 1
    else:
        raise AssertionError("a failed cell must make the command fail")
    interrupted = RunSummary(results={"a": {"status": "interrupted"}}, interrupted=True)
    try:
        exit_status(interrupted)
    except zoo.errors.ReportedError as e:
        assert e.exit_code == 130
    else:
        raise AssertionError("an interrupted comparison is not a success")


def test_steps_0_is_refused_as_the_help_says(tmp_path, capsys):
    from click.testing import CliRunner

    from zoo.cli import cli

    assert "at least 1" in " ".join(CliRunner().invoke(cli, ["compare", "--help"]).output.split())
    code = main(["compare", "--tasks", "denoise", "--losses", "l1", "--steps", "0", "--out",
                 str(tmp_path / "never")])
    assert code == 2
    assert "--steps" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()
