"""Telling a live process from another one that was given its pid.

A pid alone names a process only while it lives: once a worker child dies, the kernel may hand
its pid to any new process (in a container, where pids are small, soon). A job's process row
therefore records its child's start time beside the pid, as the kernel reports it, and a child
counts as alive only while a process with that pid *and* that start time exists. Linux reports
it in `/proc/<pid>/stat`; elsewhere `start_time` is None and the pid alone is checked.
"""

from __future__ import annotations

import os

_PROC = "/proc"

#: (pid, start time) of this process, read once: a forked child reads its own again.
_own: tuple[int, int | None] | None = None


def start_time(pid: int) -> int | None:
    """The start time of process `pid` (clock ticks after boot), or None when there is no such
    process, it is a zombie, or the system has no /proc to ask."""
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as stat:
            line = stat.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces and ")".
    fields = line[line.rfind(b")") + 2 :].split()
    if len(fields) < 20 or fields[0] == b"Z":
        return None
    return int(fields[19])


def own_start_time() -> int | None:
    """This process's start time, as `start_time` reports it; None without /proc."""
    global _own
    pid = os.getpid()
    if _own is None or _own[0] != pid:
        _own = (pid, start_time(pid))
    return _own[1]


def is_running(pid: int | None, recorded_start: int | None) -> bool:
    """True while the process `pid` that started at `recorded_start` still runs.

    Without a recorded start time (a row written where /proc is missing) only the pid is
    checked, as a signal 0 does.
    """
    if pid is None:
        return False
    if recorded_start is not None and os.path.isdir(_PROC):
        return start_time(pid) == recorded_start
    return pid_alive(pid)


def pid_alive(pid: int) -> bool:
    """Whether any process has this pid (signal 0)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True
