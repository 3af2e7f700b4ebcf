"""bench/gpu_check.py: refuses cleanly without CUDA, and its checks pass when run on the CPU (`--cpu`),
which tests the script itself (not CUDA)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gpu_check.py"


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
                               "TOKENIZERS_PARALLELISM": "false"})


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the script would check it")
def test_without_cuda_nothing_is_checked():
    proc = run()
    assert proc.returncode == 2 and proc.stdout.strip() == "no CUDA device: nothing checked"


def test_every_check_passes_on_the_cpu():
    proc = run("--cpu")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert len(lines) == 4 and all(line.startswith("PASS") for line in lines), proc.stdout
