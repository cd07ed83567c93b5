"""The run folder: ``runs/<recipe>-<YYYYmmdd-HHMMSS>/``.

Contents (written by rank 0):

* ``config.toml``: the resolved recipe (:meth:`zoo.engine.spec.Recipe.to_dict`: profile,
  stage inheritance and ``--set`` applied, every default written out) -- ``--resume`` reads it
  back, so a resumed run uses exactly the same settings;
* ``environment.json``: package versions, seeds, git commit (if any), machine, command line;
* ``state.json``: per stage, ``pending`` / ``running`` / ``done`` with its metrics and time;
* ``log.txt``: every log line;
* ``stages/<stage>/checkpoint.pt`` (training state) and ``stages/<stage>/model.pt`` (weights);
* ``metrics.json``, ``report.md`` and its PNGs once the run is done.
"""
from __future__ import annotations

import datetime as _dt
import importlib.metadata as md
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import tomli_w
import torch

from zoo.atomic import atomic_write_json, atomic_write_text, make_folder
from zoo.config import load_toml
from zoo.errors import ConfigError

from .recipe import resolve
from .spec import Recipe

PACKAGES = ("restoration-zoo", "torch", "torchvision", "timm", "kornia", "piq", "lpips",
            "pytorch-msssim", "numpy", "scikit-image", "pluggy", "click", "rich")


def new_run_dir(parent: str | Path, recipe: str) -> Path:
    """A fresh ``<parent>/<recipe>-<time>`` folder (a suffix avoids clashes)."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(parent) / f"{recipe}-{stamp}"
    path, i = base, 1
    while path.exists():
        path, i = Path(f"{base}-{i}"), i + 1
    return make_folder(path, exist_ok=False)


def package_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def git_commit(cwd: str | Path | None = None) -> str | None:
    try:
        here = Path(cwd or Path(__file__).resolve().parent)
        res = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5)
        if res.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return res.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info(device: str) -> dict[str, Any]:
    info = {"platform": platform.platform(), "processor": platform.processor() or
            platform.machine(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "device": device, "hostname": platform.node()}
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


class RunFolder:
    """Reads and writes the files of one run folder."""

    def __init__(self, path: str | Path, *, write: bool = True):
        self.path = Path(path)
        self.write = write

    # -------------------------------------------------------------- files
    @property
    def config_path(self) -> Path:
        return self.path / "config.toml"

    def stage_dir(self, stage: str) -> Path:
        return self.path / "stages" / stage

    def save_recipe(self, recipe: Recipe) -> None:
        if self.write:
            atomic_write_text(recipe_toml(recipe), self.config_path)

    def load_recipe(self) -> Recipe:
        if not self.config_path.is_file():
            raise ConfigError(f"{self.path}: not a run folder (no config.toml); "
                              f"--resume takes a folder made by `zoo run recipe`")
        return resolve(load_toml(self.config_path), source=str(self.config_path))

    def save_json(self, name: str, data: Any) -> None:
        if self.write:
            atomic_write_json(data, self.path / name)

    def load_json(self, name: str, default: Any = None) -> Any:
        p = self.path / name
        if not p.is_file():
            return default
        return json.loads(p.read_text(encoding="utf-8"))

    def log(self, message: str) -> None:
        if self.write:
            stamp = _dt.datetime.now().strftime("%H:%M:%S")
            with open(self.path / "log.txt", "a", encoding="utf-8") as f:
                f.write(f"{stamp} {message}\n")

    def save_environment(self, *, seed: int, device: str, argv: list[str] | None = None,
                         world: int = 1, resumed: bool = False) -> None:
        env = self.load_json("environment.json", {}) if resumed else {}
        entry = {"started": _dt.datetime.now().isoformat(timespec="seconds"),
                 "argv": argv if argv is not None else sys.argv, "seed": seed,
                 "world_size": world, "packages": package_versions(),
                 "git_commit": git_commit(), "machine": machine_info(device)}
        if resumed:
            env.setdefault("resumes", []).append(entry)
        else:
            env = entry
        self.save_json("environment.json", env)


def recipe_toml(recipe: Recipe) -> str:
    """The resolved recipe as TOML (what ``config.toml`` holds)."""
    return tomli_w.dumps(recipe.to_dict())
