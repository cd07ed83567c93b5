"""The run folder: ``runs/<recipe>-<YYYYmmdd-HHMMSS>/``.

Contents (written by rank 0):

* ``config.toml``: the resolved recipe (:meth:`zoo.engine.spec.Recipe.to_dict`: profile,
  stage inheritance and ``--set`` applied, every default written out) -- ``--resume`` reads it
  back, so a resumed run uses exactly the same settings;
* ``environment.json``: package versions, seeds, git commit (if any), machine (CPUs, torch
  threads, load average at the start), command line, and the registry's provenance (plugins
  with versions and sources, registry files with their digests: what ``zoo run`` elsewhere
  needs to find the same names);
* ``state.json``: per stage, ``running`` / ``done`` (with its time and final loss) /
  ``failed`` or ``interrupted`` (with the error line);
* ``log.txt``: every log line (a failure's ``error:`` line too);
* ``.lock`` (and ``.lock.owner``, the holder's pid): held while a process trains in the folder,
  so two processes never resume one run at once (:meth:`RunFolder.lock`);
* ``stages/<stage>/checkpoint.pt`` (training state) and ``stages/<stage>/model.pt`` (weights);
* ``metrics.json``, ``report.md`` and its PNGs once the run is done.
"""
from __future__ import annotations

import datetime as _dt
import importlib.metadata as md
import json
import os
import platform
import re
import subprocess
import sys
import tomllib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import filelock
import tomli_w
import torch

from zoo.atomic import (WriteError, atomic_write_json, atomic_write_text, describe_os_error,
                        make_folder)
from zoo.config import load_toml
from zoo.errors import ConfigError, ZooError
from zoo.registry import Registry

from .recipe import resolve
from .spec import Recipe

PACKAGES = ("restoration-zoo", "torch", "torchvision", "timm", "kornia", "piq", "lpips",
            "pytorch-msssim", "numpy", "scikit-image", "pluggy", "click", "rich")


class RunFolderBusy(ZooError):
    """Another process holds the run folder's lock."""


def new_run_dir(parent: str | Path, recipe: str) -> Path:
    """A fresh ``<parent>/<recipe>-<time>`` folder (a suffix avoids clashes).

    Each name is claimed by ``mkdir`` itself, which exactly one process wins: two runs started
    in the same second get ``...-HHMMSS`` and ``...-HHMMSS-1``, never one folder.
    """
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = make_folder(parent) / f"{recipe}-{stamp}"
    for i in range(10_000):
        path = base if i == 0 else Path(f"{base}-{i}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as e:
            raise WriteError(describe_os_error(path, e)) from None
        return path
    raise WriteError(f"{base}: 10000 run folders of this name and second exist")


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


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the OS has none)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def usable_cpus() -> int | None:
    """CPUs this process may run on (its affinity mask), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


def machine_info(device: str) -> dict[str, Any]:
    """Platform, CPUs (machine and usable), torch's intra-/inter-op threads, the load average
    when the run started, the device (and GPU name, CUDA and cuDNN versions on CUDA)."""
    info: dict[str, Any] = {
        "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(), "usable_cpus": usable_cpus(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "load_average": load_average(), "device": device, "hostname": platform.node()}
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
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

    def load_json(self, name: str, default: Any = None, *, hint: str = "") -> Any:
        """The JSON file ``name`` (``default`` when there is none); a damaged one is a one-line
        error naming it (and ``hint``: what to do)."""
        p = self.path / name
        if not p.is_file():
            return default
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except (ValueError, OSError) as e:  # JSONDecodeError and UnicodeDecodeError included
            raise ZooError(f"{p}: damaged, cannot be read ({e}){'; ' + hint if hint else ''}") \
                from None

    def load_state(self) -> dict[str, Any]:
        """``state.json``: per stage, its status (see the module doc)."""
        state = self.load_json("state.json", {}, hint="delete it to resume anyway (finished "
                                                      "stages are found again from their "
                                                      "checkpoints)")
        if not isinstance(state, dict):
            raise ZooError(f"{self.path / 'state.json'}: damaged (not a table of stages)")
        return state

    def end_running(self, state: dict[str, Any], status: str, message: str) -> None:
        """Mark the stages still ``running`` as ``failed`` or ``interrupted`` with ``message``
        in ``state.json``; a failure's ``error:`` line goes to ``log.txt`` too."""
        for entry in state.values():
            if isinstance(entry, dict) and entry.get("status") == "running":
                entry.update(status=status, error=message)
        try:
            self.save_json("state.json", state)
            self.log(message if status == "interrupted" else f"error: {message}")
        except ZooError:  # a full disk, say: the error being reported is the one to show
            pass

    def log(self, message: str) -> None:
        if self.write:
            stamp = _dt.datetime.now().strftime("%H:%M:%S")
            path = self.path / "log.txt"
            try:
                with open(path, "a", encoding="utf-8") as f:
                    f.write(f"{stamp} {message}\n")
            except OSError as e:
                raise WriteError(describe_os_error(path, e)) from None

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's ``.lock`` while the block runs (rank 0 only: the other ranks write
        nothing).  A folder another process holds is a :class:`RunFolderBusy` error naming the
        holder's pid; the lock goes with its process, even one killed with ``kill -9``."""
        if not self.write:
            yield
            return
        lock = filelock.FileLock(self.path / ".lock", timeout=0)
        owner = self.path / ".lock.owner"
        try:
            lock.acquire()
        except filelock.Timeout:
            try:
                holder = json.loads(owner.read_text(encoding="utf-8"))
                who = f"pid {holder['pid']} on {holder['host']}, since {holder['since']}"
            except (OSError, ValueError, KeyError, TypeError):
                who = "pid unknown"
            raise RunFolderBusy(f"{self.path}: in use by another zoo process ({who}); wait for "
                                f"it to finish or stop it, then --resume") from None
        except OSError as e:
            raise WriteError(describe_os_error(self.path / ".lock", e)) from None
        try:
            atomic_write_json({"pid": os.getpid(), "host": platform.node(),
                               "since": _dt.datetime.now().isoformat(timespec="seconds")}, owner)
            yield
        finally:
            try:
                owner.unlink()
            except OSError:
                pass
            lock.release()

    def save_environment(self, *, seed: int, device: str, argv: list[str] | None = None,
                         world: int = 1, resumed: bool = False,
                         registry: Registry | None = None) -> None:
        """Write ``environment.json`` (a resumed run appends its entry under ``resumes``)."""
        env = self.load_json("environment.json", {}) if resumed else {}
        entry = {"started": _dt.datetime.now().isoformat(timespec="seconds"),
                 "argv": argv if argv is not None else sys.argv, "seed": seed,
                 "world_size": world, "packages": package_versions(),
                 "git_commit": git_commit(), "machine": machine_info(device)}
        if registry is not None:
            entry["registry"] = registry.provenance().to_dict()
        if resumed:
            env.setdefault("resumes", []).append(entry)
        else:
            env = entry
        self.save_json("environment.json", env)


#: A multi-line array each of whose items is complete on its line (tomli_w writes every array
#: one item a line; an item line ends with a comma and does not start with a closing bracket).
_FLAT_ARRAY = re.compile(r"\[\n((?:[ \t]+[^\]\s][^\n]*,\n)+)[ \t]*\]")


def compact_toml(text: str, width: int = 100) -> str:
    """``text`` with each multi-line array of scalars put on one line (``depths = [1, 1, 1]``)
    when the line stays within ``width`` characters; innermost arrays first, so short nested
    arrays fold too.  Returns ``text`` unchanged if the result would parse differently."""
    def fold(match: re.Match[str]) -> str:
        items = [line.strip().removesuffix(",") for line in match.group(1).splitlines()]
        start = match.string.rfind("\n", 0, match.start()) + 1
        flat = "[" + ", ".join(items) + "]"
        return flat if match.start() - start + len(flat) <= width else match.group(0)

    out = text
    while True:
        folded = _FLAT_ARRAY.sub(fold, out)
        if folded == out:
            break
        out = folded
    return out if tomllib.loads(out) == tomllib.loads(text) else text


def recipe_toml(recipe: Recipe) -> str:
    """The resolved recipe as TOML (what ``config.toml`` holds), short arrays on one line."""
    return compact_toml(tomli_w.dumps(recipe.to_dict()))
