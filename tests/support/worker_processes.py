"""A server's processes and the TCP sockets each holds, read from Linux's /proc."""

from __future__ import annotations

import os
import time
from pathlib import Path

_PROC = Path("/proc")
LISTEN = "0A"  # /proc/net/tcp's state codes
ESTABLISHED = "01"


def _parent_of(pid: str) -> tuple[int, bytes] | None:
    try:
        stat = (_PROC / pid / "stat").read_text()
        cmdline = (_PROC / pid / "cmdline").read_bytes()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1]), cmdline


def worker_pids(parent: int) -> set[int]:
    """Worker processes the supervisor forked: its children with its own command line (the
    job runner, its other child, runs another)."""
    try:
        own = (_PROC / str(parent) / "cmdline").read_bytes()
    except OSError:
        return set()
    found = set()
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            known = _parent_of(entry.name)
            if known is not None and known == (parent, own):
                found.add(int(entry.name))
    return found


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid``: workers, the job runner and its consumers."""
    children: dict[int, set[int]] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            known = _parent_of(entry.name)
            if known is not None:
                children.setdefault(known[0], set()).add(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        below = children.get(todo.pop(), set()) - found
        found |= below
        todo.extend(below)
    return found


def alive(pid: int) -> bool:
    """Running, or stopped but not yet reaped by anyone (a zombie is not alive)."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _socket_states(port: int) -> dict[int, str]:
    """inode -> state of every TCP socket whose local port is ``port``."""
    states = {}
    for table in ("tcp", "tcp6"):
        try:
            lines = (_PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                states[int(fields[9])] = fields[3]
    return states


def sockets_on_port(pid: int, port: int, state: str) -> int:
    """How many TCP sockets on local ``port`` in ``state`` the process ``pid`` holds."""
    states = _socket_states(port)
    held = 0
    try:
        fds = os.listdir(_PROC / str(pid) / "fd")
    except OSError:
        return 0
    for fd in fds:
        try:
            target = os.readlink(_PROC / str(pid) / "fd" / fd)
        except OSError:
            continue
        if target.startswith("socket:[") and states.get(int(target[8:-1])) == state:
            held += 1
    return held


def wait_for_listening_workers(parent: int, port: int, count: int, timeout: float) -> set[int]:
    """The ``count`` workers of ``parent`` once each holds a socket listening on ``port``."""
    deadline = time.monotonic() + timeout
    while True:
        workers = worker_pids(parent)
        listening = {pid for pid in workers if sockets_on_port(pid, port, LISTEN)}
        if len(workers) == count and listening == workers:
            return workers
        if time.monotonic() > deadline:
            raise TimeoutError(f"workers {workers}, listening on {port}: {listening}")
        time.sleep(0.1)
