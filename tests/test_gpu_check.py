"""``benchmarks/gpu_check.py`` (``make gpu-check``) on the CPU with tiny sizes: the script runs
every part and writes its one table.  The figures of a quick run measure nothing."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_gpu_check_quick_on_cpu_writes_one_table(tmp_path):
    out = tmp_path / "check.md"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(REPO / "benchmarks/gpu_check.py"), "--device",
                           "cpu", "--quick", "--threads", "1", "--out", str(out)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    assert text in done.stdout and "QUICK" in text.splitlines()[0]
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    assert [r.split(" | ")[0][2:] for r in rows[1:]] == [
        "Uformer attention, forward+backward", "Uformer attention, inference",
        "cascade step (float32)", "cascade step (bf16 autocast)",
        "cascade step (bf16 autocast + channels_last)", "zoo run recipe cascaded-flare"]
    assert re.search(r"fused [\d.]+ ms, explicit [\d.]+ ms: \*\*[\d.]+×\*\*", rows[1])
    for row in rows[3:6]:
        assert re.search(r"\*\*\d+ ms\*\*/step .* peak RSS of the process \d+ MiB", row), row
    # the smoke profile repeats finetune and control: rows finetune/s0, finetune/s1, ...
    assert re.search(r"\*\*\d+ s\*\* wall; PSNR \(dB\): .*finetune/s0 \d", rows[6]), rows[6]


def test_gpu_check_without_cuda_says_so():
    import pytest
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    done = subprocess.run([sys.executable, str(REPO / "benchmarks/gpu_check.py")],
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "CUDA is not available" in done.stderr
    assert "Traceback" not in done.stderr
