"""Real `celery worker` subprocesses: start, measure memory, stop without leaving orphans."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT, WORKER_FLAGS


def descendants(pid: int) -> list[int]:
    """Child processes of `pid`, recursively (Linux /proc)."""
    found: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        try:
            children = Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found.append(child)
            found.extend(descendants(child))
    return found


def _status_kib(pid: int, field: str, source: str = "status") -> int:
    try:
        for line in Path(f"/proc/{pid}/{source}").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory(pid: int) -> dict[str, float]:
    """RSS and PSS in MiB of a process and all its descendants, and how many there are.

    RSS counts pages shared by a forked parent and its children once per process; PSS splits
    them, so the PSS sum is the memory the worker really holds.
    """
    pids = [pid, *descendants(pid)]
    rss = sum(_status_kib(p, "VmRSS") for p in pids)
    pss = sum(_status_kib(p, "Pss", "smaps_rollup") for p in pids)
    return {"rss_mib": rss / 1024, "pss_mib": pss / 1024, "processes": len(pids)}


#: Local server processes whose CPU time the memory phase reports, by /proc comm name.
SERVERS = {"postgresql": "postgres", "redis": "redis-server", "rabbitmq": "beam.smp"}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu() -> dict[str, dict[int, float]]:
    """CPU seconds used so far by each local PostgreSQL, Redis and RabbitMQ process."""
    found: dict[str, dict[int, float]] = {key: {} for key in SERVERS}
    names = {comm: key for key, comm in SERVERS.items()}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            comm = Path(f"/proc/{entry}/comm").read_text().strip()
        except OSError:
            continue
        if comm in names:
            found[names[comm]][int(entry)] = cpu_seconds(int(entry))
    return found


def cpu_used(
    before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]
) -> dict[str, float]:
    """CPU seconds each group of processes used between two readings.

    A process that exits in between takes its time with it (a system that opens a database
    connection per task loses its PostgreSQL backends' share); one that started in between
    counts whole.
    """
    return {
        key: sum(seconds - before.get(key, {}).get(pid, 0.0) for pid, seconds in pids.items())
        for key, pids in after.items()
    }


class Worker:
    """`celery -A APP worker -Q QUEUE` with the common flags, in its own process group."""

    def __init__(
        self, app: str, queue: str, env: dict[str, str], log: Path, pid_file: Path
    ) -> None:
        self.log_path = log
        self._log = log.open("ab")
        command = [sys.executable, "-m", "celery", "-A", app, "worker", "-Q", queue]
        command += ["-n", f"{queue}@%h", *WORKER_FLAGS]
        self.started_at = time.time()
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # The orchestrator kills what is listed here if this process dies before stop().
        with pid_file.open("a") as file:
            file.write(f"{self.proc.pid}\n")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def check(self) -> None:
        if not self.alive():
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{tail}")

    def memory(self) -> dict[str, float]:
        return memory(self.proc.pid)

    def cpu(self) -> dict[str, dict[int, float]]:
        """CPU seconds of the main process and of each of its pool's children so far."""
        pid = self.proc.pid
        return {
            "worker_main": {pid: cpu_seconds(pid)},
            "worker_children": {child: cpu_seconds(child) for child in descendants(pid)},
        }

    def stop(self, timeout: float = 30) -> None:
        """Warm shutdown (SIGTERM to the group), then SIGKILL at the deadline."""
        kill_group(self.proc.pid, timeout)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        self._log.close()


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_group(pgid: int, timeout: float = 30) -> None:
    """SIGTERM every process of the group, SIGKILL what is left after `timeout` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while group_alive(pgid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pgid, os.WNOHANG)  # reap it if it is our child, so it stops existing
        time.sleep(0.05)
    if group_alive(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while group_alive(pgid) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pgid, os.WNOHANG)
            time.sleep(0.05)
