"""Pre-flight: ``zoo plugins check [NAME]`` (one line per plugin), ``zoo compare``'s checks
before any cell starts, ``--dry-run``'s odd-size inference check and ``zoo infer --tile 0``
refusing a size-changing model."""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from PIL import Image

import zoo
from zoo.cli import main
from zoo.engine.preflight import ODD_SIZE, check_loss, check_model

HERE = Path(__file__).resolve().parent
DRILL_REGISTRY = HERE / "drills" / "registry.toml"
DRILL_RECIPE = HERE / "drills" / "drill.toml"

PLUGIN = '''
import torch
from torch import nn
from zoo.hookspecs import hookimpl


class Cube(nn.Module):
    def forward(self, pred, target):
        return (pred - target).abs().pow(3).mean()


class PerPixel(nn.Module):
    """A loss whose forward forgets to reduce."""

    def forward(self, pred, target):
        return (pred - target).abs()


class NeedsAlpha(nn.Module):
    def __init__(self, alpha):
        super().__init__()
        self.alpha = alpha

    def forward(self, pred, target):
        return (pred - target).abs().mean() * self.alpha


class Halves(nn.Module):
    """A model that halves the image (a stride-2 convolution, no upsampling)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


class Unpadded(nn.Module):
    """Down by 2, up by 2, without padding to even sizes: fine at 16x16, not at 53x37."""

    def __init__(self):
        super().__init__()
        self.down = nn.Conv2d(3, 3, 3, stride=2, padding=1)
        self.up = nn.Upsample(scale_factor=2)

    def forward(self, x):
        return self.up(self.down(x))


class Keeps(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return x + self.conv(x)


class NoLength(torch.utils.data.Dataset):
    """A dataset that does not take what a comparison passes (size, seed, split, length)."""

    def __init__(self, root="."):
        self.root = root

    def __len__(self):
        return 1

    def __getitem__(self, i):
        return {"input": torch.zeros(3, 8, 8), "gt": torch.zeros(3, 8, 8)}


@hookimpl
def zoo_register_losses(register):
    register("pf-cube", Cube)
    register("pf-per-pixel", PerPixel)
    register("pf-needs-alpha", NeedsAlpha)


@hookimpl
def zoo_register_models(register):
    register("pf-halves", Halves)
    register("pf-keeps", Keeps)
    register("pf-unpadded", Unpadded)


@hookimpl
def zoo_register_datasets(register):
    register("pf-no-length", NoLength)
'''

GOOD = '''
from torch import nn
from zoo.hookspecs import hookimpl


class Cube(nn.Module):
    def forward(self, pred, target):
        return (pred - target).abs().pow(3).mean()


@hookimpl
def zoo_register_losses(register):
    register("pf-good", Cube)
'''


def registry_file(tmp_path: Path, **modules: str) -> Path:
    for name, body in modules.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
    toml = tmp_path / "registry.toml"
    toml.write_text("[plugins]\nlocal = [" + ", ".join(f'"{m}.py"' for m in modules) + "]\n")
    return toml


def test_checks_of_single_components(tmp_path):
    reg = zoo.build_registry(registry_file(tmp_path, pf=PLUGIN), warn=False)
    assert check_loss(reg, "pf-cube") == ""
    assert "not one number" in check_loss(reg, "pf-per-pixel")
    assert check_loss(reg, "pf-needs-alpha", {"alpha": 2.0}) == ""
    assert check_model(reg, "pf-keeps") == ""
    h, w = ODD_SIZE
    assert f"returns 27x19 for a {h}x{w} input" in check_model(reg, "pf-halves")


def test_zoo_plugins_check_one_line_per_plugin(tmp_path, capsys):
    toml = registry_file(tmp_path, pf=PLUGIN, good=GOOD)
    code = main(["--registry", str(toml), "plugins", "check"])
    out = capsys.readouterr().out.splitlines()
    lines = [line for line in out if line.startswith(("ok", "FAIL"))]
    assert code == 1
    by_plugin = {line.split()[1]: line for line in lines}
    assert by_plugin["good"].startswith("ok") and "ok (1 loss)" in by_plugin["good"]
    bad = by_plugin["pf"]
    assert bad.startswith("FAIL")
    assert "loss pf-per-pixel: returned shape (2, 3, 32, 32)" in bad
    assert "loss pf-needs-alpha: needs argument(s) alpha (no default)" in bad
    assert "model pf-halves: returns 27x19 for a 53x37 input" in bad
    assert "model pf-unpadded: returns 54x38 for a 53x37 input" in bad
    assert "pf-cube" not in bad and "pf-keeps" not in bad
    assert main(["--registry", str(toml), "plugins", "check", "good"]) == 0
    assert main(["--registry", str(toml), "plugins", "check", "goood"]) == 2
    assert "did you mean 'good'" in capsys.readouterr().err


def _compare(toml: Path, out: Path, *args: str) -> list[str]:
    return ["--registry", str(toml), "compare", "--tasks", "denoise", "--seeds", "1",
            "--steps", "1", "--size", "16", "--train-length", "2", "--test-length", "1",
            "--metrics", "psnr", "--jobs", "1", "--out", str(out), *args]


def test_compare_preflight_fails_before_any_cell(tmp_path, capsys):
    toml = registry_file(tmp_path, pf=PLUGIN)
    config = tmp_path / "cmp.toml"
    config.write_text('tasks = ["denoise"]\nlosses = ["l1"]\nmodel = "pf-keeps"\n'
                      '[datasets.denoise]\nname = "pf-no-length"\n')
    cases = {
        "broken loss": (("--losses", "l1,pf-per-pixel", "--model", "pf-keeps"),
                        "loss 'pf-per-pixel' in 'pf-per-pixel': returned shape"),
        "missing argument": (("--losses", "pf-needs-alpha", "--model", "pf-keeps"),
                             "needs argument(s) alpha"),
        "size-changing model": (("--losses", "l1", "--model", "pf-halves"),
                                "model 'pf-halves': returns 8x8 for a 16x16 input"),
        "dataset signature": (("--config", str(config)), "dataset 'pf-no-length' (train)"),
    }
    try:
        for name, (args, says) in cases.items():
            out = tmp_path / name.replace(" ", "-")
            capsys.readouterr()
            assert main(_compare(toml, out, *args)) == 2, name
            err = capsys.readouterr().err
            assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
            assert "pre-flight (no cell started)" in err and says in err, (name, err)
            assert "inputs differ in shape" not in err
            assert not out.exists(), name  # no output folder: nothing started
    finally:
        zoo.reset_registry()


def _png(path: Path, h: int, w: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w, 3), 90, np.uint8)).save(path)
    return path


def test_dry_run_tries_an_odd_size_and_infer_refuses_a_size_change(tmp_path, capsys):
    toml = tmp_path / "registry.toml"
    (tmp_path / "pf.py").write_text(textwrap.dedent(PLUGIN))
    toml.write_text(DRILL_REGISTRY.read_text().replace(
        '"../engine/standins/plugin.py", "hostile.py"',
        f'"{HERE / "engine" / "standins" / "plugin.py"}", "{tmp_path / "pf.py"}"'))
    capsys.readouterr()
    code = main(["--registry", str(toml), "run", "recipe", str(DRILL_RECIPE), "--dry-run",
                 "--set", "stages.only.model='pf-unpadded'", "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "model 'pf-unpadded' returns 54x38 for a 53x37 input" in err, err
    assert "`zoo infer` would fail on such an image" in err
    from zoo.checkpoint import save_model_checkpoint

    reg = zoo.build_registry(toml, warn=False)
    save_model_checkpoint(tmp_path / "halves.pt", reg.create("models", "pf-halves"), "pf-halves")
    _png(tmp_path / "in" / "odd.png", 37, 53)
    capsys.readouterr()
    code = main(["--registry", str(toml), "infer", str(tmp_path / "halves.pt"),
                 str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--tile", "0"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "returned (1, 3, 19, 27) for a 37x53 image; nothing written" in err, err
    assert not list((tmp_path / "out").glob("*.png")) if (tmp_path / "out").exists() else True
