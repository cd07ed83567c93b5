"""Every user mistake exits non-zero with a one-line message (no traceback); --dry-run validates."""
from __future__ import annotations

import pytest

from zoo.cli import main

from .conftest import REGISTRY, TINY


def _run(capsys, *args):
    rc = main(["--registry", str(REGISTRY), "run", "recipe", str(TINY), *args])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_dry_run_validates_and_trains_nothing(capsys, tmp_path, standins):
    rc, out, err = _run(capsys, "--dry-run", "--out", str(tmp_path))
    assert rc == 0, err
    assert "checks passed" in out
    assert "finetune: cascade tiny-net" in err and "negative" in err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("override, expected", [
    ("stages.reference.model=tiny-nett", "did you mean 'tiny-net'"),
    ("stages.reference.schedule.step=3", "unknown key"),
    ("stages.reference.schedule.steps=abc", "expected int"),
    ("stages.finetune.weights=/no/such/file.pt", "not found"),
    ("stages.finetune.cascade.k=3", "k must be 1 (L1) or 2 (L2)"),
    ("stages.reference.optimizer.name=sgdd", "did you mean"),
    ("data.train.name=tiny-pair", "did you mean 'tiny-pairs'"),
    ("profile=fast", "unknown profile"),
    ("stages.finetune.weights=stage:control", "earlier stage"),
])
def test_user_errors_are_one_line(capsys, standins, override, expected):
    rc, out, err = _run(capsys, "--dry-run", "--set", override)
    assert rc == 2
    assert expected.lower() in err.lower(), err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_loss_input_mismatch_is_reported(capsys, standins, tmp_path):
    text = TINY.read_text().replace('inputs = ["pred", "gt"]', 'inputs = ["pred", "target"]')
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    rc = main(["--registry", str(REGISTRY), "run", "recipe", str(bad), "--dry-run"])
    err = capsys.readouterr().err
    assert rc == 2 and "input 'target' is not a tensor of this stage" in err, err


def test_unknown_recipe(capsys, standins):
    rc = main(["--registry", str(REGISTRY), "run", "recipe", "no-such-recipe"])
    assert rc == 2 and "unknown recipe" in capsys.readouterr().err
