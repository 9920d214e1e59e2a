"""``raie worker`` as a child process: for tests, benchmarks and scripts that drive a stream.

Each start writes its own log file; waits fail with the log's tail, so a
worker that died says why.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from raie.online.artifacts import ARTIFACTS_DIR, STATE_FILE

WORKER_READY = "[^Worker]: Ready"
"""Faust's log line once the worker has joined its group and recovered its tables."""
READY_WITHIN_S = 120.0
STOP_WITHIN_S = 60.0
POLL_S = 0.5
TAIL_LINES = 40


def raie_command(*args: str) -> list[str]:
    """The ``raie`` CLI of this interpreter, whether or not its script is on PATH."""
    return [sys.executable, "-m", "raie.cli.main", *args]


def unbuffered_env() -> dict[str, str]:
    return os.environ | {"PYTHONUNBUFFERED": "1"}


@dataclass
class WorkerProcess:
    bootstrap: str
    store: Path
    log_dir: Path
    options: Sequence[str] = ()
    """More ``raie worker`` options: --dataset, --config, --app-id, ..."""
    process: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    @property
    def pid(self) -> int:
        assert self.process is not None, "start() first"
        return self.process.pid

    def start(self) -> None:
        """Start a worker and wait until it consumes."""
        log = self.log_dir / f"worker-{len(self.logs) + 1}.log"
        self.logs.append(log)
        command = raie_command("worker", "--bootstrap", self.bootstrap, "--store", str(self.store), *self.options)
        with log.open("wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=unbuffered_env())
        self.wait_for(lambda: WORKER_READY in log.read_text(errors="replace"), READY_WITHIN_S, "the worker to start")

    def kill(self) -> None:
        """kill -9: no shutdown code runs, nothing is flushed or committed."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=STOP_WITHIN_S)

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; the exit status."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=STOP_WITHIN_S)

    def serving_pids(self) -> list[int]:
        """The worker's serving processes (streams/serving_process.py): children started by
        multiprocessing's spawn, from whichever of its threads (a replacement comes from a supervisor)."""
        tasks = Path(f"/proc/{self.pid}/task").iterdir()
        children = [pid for task in tasks for pid in (task / "children").read_text().split()]
        return [int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]

    def closed_slices(self) -> int:
        state = self.store / ARTIFACTS_DIR / STATE_FILE
        return int(json.loads(state.read_text())["closed_slices"]) if state.is_file() else 0

    def wait_for_slices(self, slices: int, within_s: float) -> None:
        self.wait_for(lambda: self.closed_slices() >= slices, within_s, f"{slices} closed slices")

    def wait_for(self, done: Callable[[], bool], within_s: float, what: str) -> None:
        deadline = time.monotonic() + within_s
        while not done():
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"the worker exited ({self.process.returncode}) waiting for {what}{self.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {what} within {within_s:.0f} s{self.tail()}")
            time.sleep(POLL_S)

    def tail(self) -> str:
        if not self.logs:
            return ""
        lines = self.logs[-1].read_text(errors="replace").splitlines()[-TAIL_LINES:]
        return f"; last lines of {self.logs[-1]}:\n" + "\n".join(lines)
