"""Process hygiene for compare: one compare per variant folder, lm_eval children that never outlive it.

- `FolderLock`: an exclusive `flock` on ``<variant folder>/compare.lock`` that holds the owner's pid. The
  kernel drops the lock when its process dies, however it dies, so a lock left by a killed compare is
  taken over (and said so); a live holder makes a second compare wait a little, then refuse, naming the pid.
- `run_child`: lm_eval as a child that gets SIGKILL when compare dies (Linux `PR_SET_PDEATHSIG`), and
  that compare ends itself on Ctrl-C before passing the interrupt on.
- `error_line`: the line of a failed run's log that says what went wrong (its last exception line).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from aura_eval.core.files import alive
from aura_eval.core.names import COMPARE_LOCK

PR_SET_PDEATHSIG = 1
STOP_GRACE_S = 10.0  # how long a child gets to exit after SIGTERM before SIGKILL


class FolderLock:
    """`with FolderLock(folder):` one compare at a time in `folder` (created if needed)."""

    def __init__(self, folder: Path, wait_s: float = 5.0, say=None):
        self.path = Path(folder) / COMPARE_LOCK
        self.wait_s = wait_s
        self.say = say or (lambda text: None)
        self.fd: int | None = None

    def __enter__(self) -> FolderLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_pid(fd)
                    os.close(fd)
                    raise RuntimeError(f"{self.path.parent} is in use by another aura-eval compare (pid "
                                       f"{holder or 'unknown'}); wait for it to finish or stop it") from None
                time.sleep(0.2)
        previous = _read_pid(fd)
        if previous and previous != os.getpid() and not alive(previous):
            self.say(f"taking over the lock of pid {previous}, which is no longer running")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None


def _die_with_parent(parent: int, death_signal: int = signal.SIGKILL):
    """preexec_fn: ask Linux to send `death_signal` to this child when its parent dies (and exit if it already has)."""

    def setup() -> None:
        if sys.platform.startswith("linux"):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, death_signal, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return setup


def run_child(argv: list[str], log, env: dict | None = None, death_signal: int = signal.SIGKILL) -> int:
    """Run `argv` with stdout and stderr into `log`; Ctrl-C (or any exception) ends the child first.

    A launcher (torchrun, accelerate) gets SIGTERM rather than SIGKILL when compare dies, so that it can
    stop the worker processes it started before it exits.
    """
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                            preexec_fn=_die_with_parent(os.getpid(), death_signal))
    try:
        return proc.wait()
    except BaseException:
        stop(proc)
        raise


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Exit|Interrupt)\b(?::.*)?$")


def error_line(log_text: str) -> str:
    """The last exception line of a log (e.g. "ValueError: aura-hf: ..."), else its last non-empty line."""
    lines = [line.rstrip() for line in log_text.splitlines() if line.strip()]
    for line in reversed(lines):
        if EXCEPTION_LINE.match(line.strip()):
            return line.strip()
    return lines[-1].strip() if lines else "(the log is empty)"
