"""The same command under DDP on CPU (gloo): 2 processes on one node through torchrun, and
2 nodes × 1 process simulated on loopback (each process started with the variables a 2-node
torchrun or a Slurm script gives it); DistributedSampler, rank-0 outputs; the engine's reading
of the launcher's environment."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from zoo.engine.distributed import DistEnv, read_env
from zoo.errors import ConfigError

from .conftest import REGISTRY, REPO, TINY

RUN = ["-m", "zoo", "--registry", str(REGISTRY), "run", "recipe", str(TINY), "--no-progress"]


def _check_run(out, world: int) -> dict:
    runs = list(out.iterdir())
    assert len(runs) == 1  # one run folder, made by rank 0 and shared with the others
    run = runs[0]
    env_info = json.loads((run / "environment.json").read_text())
    assert env_info["world_size"] == world
    assert (run / "report.md").is_file()
    state = torch.load(run / "stages/finetune/checkpoint.pt", weights_only=True)
    assert state["step"] == 5
    assert not any(k.startswith("module.") for k in state["model"])  # saved unwrapped
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) == {"input", "reference", "cascade@0", "finetune", "control"}
    return metrics


def test_torchrun_two_processes(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           *RUN, "--out", str(tmp_path)]
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _check_run(tmp_path, 2)
    assert proc.stderr.count("run folder") == 1  # rank 0 logs alone


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_nodes_one_process_each_on_loopback(tmp_path):
    """Two "nodes" on 127.0.0.1: each process is LOCAL_RANK 0 of its node (so ranks and local
    ranks differ, as on a cluster), and they meet at MASTER_ADDR:MASTER_PORT."""
    port = _free_port()
    procs = []
    for node in (0, 1):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1",
               "RANK": str(node), "WORLD_SIZE": "2", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1",
               "GROUP_RANK": str(node), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
               "GLOO_SOCKET_IFNAME": "lo"}
        procs.append(subprocess.Popen([sys.executable, *RUN, "--out", str(tmp_path)], env=env,
                                      cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    try:
        outputs = [p.communicate(timeout=180) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    _check_run(tmp_path, 2)
    assert "run folder" in outputs[0][1] and "run folder" not in outputs[1][1]


def test_the_launcher_environment_is_read_and_checked():
    assert read_env({}) == DistEnv()  # one process alone
    assert read_env({"WORLD_SIZE": "1"}) == DistEnv()
    two_nodes = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2",
                 "MASTER_ADDR": "node-0", "MASTER_PORT": "29500"}
    env = read_env(two_nodes)
    assert (env.rank, env.world, env.local_rank, env.nodes, env.master_addr, env.master_port) \
        == (3, 4, 1, 2, "node-0", 29500)
    no_local = {k: v for k, v in two_nodes.items() if k != "LOCAL_RANK"}
    assert read_env(no_local).local_rank == 1  # RANK mod LOCAL_WORLD_SIZE
    for change, match in (({"RANK": "4"}, "RANK=4 but WORLD_SIZE=4"),
                          ({"RANK": "x"}, "RANK='x': expected an integer"),
                          ({"RANK": None}, "RANK is not set.*torchrun"),
                          ({"MASTER_ADDR": None}, "MASTER_ADDR is not set"),
                          ({"MASTER_PORT": "70000"}, "MASTER_PORT=70000"),
                          ({"LOCAL_RANK": "2"}, "LOCAL_RANK=2 but LOCAL_WORLD_SIZE=2"),
                          ({"WORLD_SIZE": "0"}, "WORLD_SIZE=0")):
        env = {**two_nodes, **change}
        with pytest.raises(ConfigError, match=match):
            read_env({k: v for k, v in env.items() if v is not None})
