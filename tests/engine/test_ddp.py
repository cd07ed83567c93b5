"""The same command under torchrun: 2 CPU processes (gloo), DistributedSampler, rank-0 outputs."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import torch

from .conftest import REGISTRY, REPO, TINY


def test_torchrun_two_processes(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "zoo", "--registry", str(REGISTRY), "run", "recipe", str(TINY),
           "--out", str(tmp_path), "--no-progress"]
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = list(tmp_path.iterdir())
    assert len(runs) == 1  # one run folder, made by rank 0 and shared with rank 1
    run = runs[0]
    env_info = json.loads((run / "environment.json").read_text())
    assert env_info["world_size"] == 2
    assert (run / "report.md").is_file()
    assert proc.stderr.count("run folder") == 1  # rank 0 logs alone
    state = torch.load(run / "stages/finetune/checkpoint.pt", weights_only=True)
    assert state["step"] == 5
    assert not any(k.startswith("module.") for k in state["model"])  # saved unwrapped
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) == {"input", "reference", "finetune", "control"}
