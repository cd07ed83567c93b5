"""Distributed helpers: the same training code runs alone or as one of several processes (DDP),
on one machine or several.

The process group is described by the standard variables of PyTorch's ``env://`` rendezvous,
which ``torchrun`` sets on every node (and which a Slurm script or submitit's
``TorchDistributedEnvironment`` can export — docs/recipes.md):

* ``RANK`` — this process among all of them (0 … ``WORLD_SIZE`` − 1; rank 0 writes);
* ``WORLD_SIZE`` — processes in all, over every node;
* ``LOCAL_RANK`` — this process on its node (its GPU: ``cuda:LOCAL_RANK``); default ``RANK``
  on a single node, ``RANK mod LOCAL_WORLD_SIZE`` when that is given;
* ``LOCAL_WORLD_SIZE`` — processes on this node (optional; for the log and the default above);
* ``MASTER_ADDR``, ``MASTER_PORT`` — where rank 0 listens for the others.

:func:`read_env` reads and checks them (a mistake names the variable); :func:`setup` joins the
process group (``gloo`` on CPU, ``nccl`` on CUDA) when ``WORLD_SIZE`` > 1.  Rank 0 alone writes
logs, checkpoints and the report, into a run folder the other nodes must see at the same path
(a shared file system); the others wait at barriers.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from zoo.errors import ConfigError


@dataclass(frozen=True)
class DistEnv:
    """The launcher's description of the process group (see the module docstring)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int | None = None
    master_addr: str = ""
    master_port: int = 0

    @property
    def nodes(self) -> int | None:
        """Nodes in the group, when ``LOCAL_WORLD_SIZE`` says how many processes each runs."""
        return -(-self.world // self.local_world) if self.local_world else None


def _int_var(env: Mapping[str, str], name: str, default: int | None = None, *,
             low: int = 0) -> int:
    text = env.get(name)
    if text is None or text.strip() == "":
        if default is None:
            raise ConfigError(f"{name} is not set (WORLD_SIZE={env.get('WORLD_SIZE')} asks for "
                              f"several processes; launch with torchrun, or export RANK, "
                              f"WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT)")
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r}: expected an integer") from None
    if value < low:
        raise ConfigError(f"{name}={value}: expected at least {low}")
    return value


def read_env(env: Mapping[str, str] | None = None) -> DistEnv:
    """The process group from the environment (``os.environ`` by default); one process alone
    when ``WORLD_SIZE`` is unset or 1.  Inconsistent values are a :class:`ConfigError` naming
    the variable."""
    env = os.environ if env is None else env
    world = _int_var(env, "WORLD_SIZE", 1, low=1)
    if world == 1:
        return DistEnv()
    rank = _int_var(env, "RANK")
    if rank >= world:
        raise ConfigError(f"RANK={rank} but WORLD_SIZE={world}: ranks go from 0 to {world - 1}")
    local_world = _int_var(env, "LOCAL_WORLD_SIZE", 0, low=1) if env.get("LOCAL_WORLD_SIZE") \
        else None
    local_rank = _int_var(env, "LOCAL_RANK", rank % local_world if local_world else rank)
    if local_world and local_rank >= local_world:
        raise ConfigError(f"LOCAL_RANK={local_rank} but LOCAL_WORLD_SIZE={local_world}")
    addr = env.get("MASTER_ADDR", "").strip()
    if not addr:
        raise ConfigError(f"MASTER_ADDR is not set (WORLD_SIZE={world}): the address of rank "
                          f"0's node, which every process must reach")
    port = _int_var(env, "MASTER_PORT", low=1)
    if port > 65535:
        raise ConfigError(f"MASTER_PORT={port}: not a TCP port")
    return DistEnv(rank, world, local_rank, local_world, addr, port)


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world`` processes (``local_rank`` on its node),
    and its device."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    """Several processes were asked for (``WORLD_SIZE`` > 1 and a ``RANK``)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1 and "RANK" in os.environ


def setup(device: str = "cpu") -> DistInfo:
    """Join the process group described by the environment (once per process); else one
    process alone."""
    env = read_env()
    if env.world == 1:
        return DistInfo(device=device)
    if device.startswith("cuda"):
        if env.local_rank >= torch.cuda.device_count():
            raise ConfigError(f"LOCAL_RANK={env.local_rank} but this node has "
                              f"{torch.cuda.device_count()} GPU(s): start one process per GPU "
                              f"(torchrun --nproc_per_node)")
        torch.cuda.set_device(env.local_rank)
        device = f"cuda:{env.local_rank}"
    if not dist.is_initialized():  # env:// (under torchrun: the store its agent hosts)
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo",
                                rank=env.rank, world_size=env.world)
    return DistInfo(rank=env.rank, world=env.world, local_rank=env.local_rank, device=device)


def barrier(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.barrier()


def broadcast_object(info: DistInfo, obj):
    """Rank 0's ``obj`` on every rank (e.g. the run folder path it chose)."""
    if not (info.enabled and dist.is_initialized()):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def any_rank(info: DistInfo, flag: bool) -> bool:
    """True on every rank when ``flag`` is true on at least one (e.g. a stop request)."""
    if not (info.enabled and dist.is_initialized()):
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def mean_over_ranks(info: DistInfo, values: dict[str, float]) -> dict[str, float]:
    """Average logged scalars over ranks (so rank 0 logs the global loss)."""
    if not (info.enabled and dist.is_initialized()) or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], device=info.device, dtype=torch.float64)
    dist.all_reduce(t)
    t /= info.world
    return {k: float(v) for k, v in zip(keys, t.tolist())}


def wrap_ddp(model: torch.nn.Module, info: DistInfo, find_unused: bool = False) -> torch.nn.Module:
    """``DistributedDataParallel`` around a model with trainable parameters (else unchanged)."""
    if not info.enabled or not any(p.requires_grad for p in model.parameters()):
        return model
    ids = [info.local_rank] if info.device.startswith("cuda") else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=find_unused)


def teardown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
