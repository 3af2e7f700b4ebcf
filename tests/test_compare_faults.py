"""compare under faults, with real lm_eval processes on a tiny model: kill -9 of compare, Ctrl-C."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aura_demo_data import write_data_dir


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def gone(pid: int) -> bool:
    """Exited (a zombie nobody reaped yet counts as exited)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "\nState:\tZ" in status or "\nState:\tX" in status


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def command(tiny_gpt2, tmp_path):
    data = write_data_dir(tmp_path / "data")
    env = {**os.environ, "AURA_EVAL_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    for name in ("AURA_TOXICITY_SCORER", "AURA_DATA_DIR"):
        env.pop(name, None)
    argv = [sys.executable, "-m", "aura_eval.cli", "compare", "--model", str(tiny_gpt2), "--model-name", "tiny",
            "--variants", "base", "--tasks", "aura_ppl_toxic", "--data-dir", str(data), "--limit", "2",
            "--device", "cpu", "--out", str(tmp_path / "out")]
    return argv, env, tmp_path / "out" / "tiny" / "base"


def start(argv, env):
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    child = wait_for(lambda: children(proc.pid), 120, "compare to start lm_eval")[0]
    return proc, child


def test_kill_9_of_compare_takes_its_lm_eval_child_along_and_a_rerun_completes(command):
    argv, env, vdir = command
    proc, child = start(argv, env)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    wait_for(lambda: gone(child), 10, f"lm_eval child {child} to die with compare")

    rerun = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"taking over the lock of pid {proc.pid}, which is no longer running" in rerun.stdout
    assert "reusing" not in rerun.stdout
    (results,) = vdir.glob("results_*.json")
    date = results.name.removeprefix("results_").removesuffix(".json")
    assert (vdir / f"run_{date}.json").is_file() and (vdir / f"samples_aura_ppl_toxic_{date}.jsonl").is_file()


def test_ctrl_c_ends_the_child_and_says_one_line(command):
    argv, env, _ = command
    proc, child = start(argv, env)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1].startswith("aura-eval compare: interrupted; child processes stopped")
    assert "Traceback" not in err
    wait_for(lambda: gone(child), 10, f"lm_eval child {child} to end")
