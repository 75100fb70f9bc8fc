"""What every benchmark here needs: servers, throwaway databases, wrk, tables.

- ``Server``: a tracking server (``mlflow-core server``, stock ``mlflow server``, or any
  command) as a subprocess in its own session on a free port; wait for a path to answer 200;
  stop with SIGTERM (SIGKILL for whatever is left after a grace period); memory of its process
  tree from /proc.
- ``temporary_database``: a uniquely named PostgreSQL or MySQL database (dropped afterwards) or
  a SQLite file in a temporary directory.
- ``run_wrk`` / ``measure``: wrk with ``--latency`` against one endpoint, with a generated Lua
  script for POST bodies (fixed, or unique per request), parsed into ``WrkResult``.
- ``comparison_table``: ours vs MLflow with the ratio, as a Markdown table.
- ``side_by_side`` / ``compare``: both servers on one database at once, and each endpoint
  measured on one then the other; ``add_side_by_side_arguments`` / ``wrk_settings``: the
  command-line flags those benchmarks share.

Only 127.0.0.1 is ever contacted. Every load is bounded by ``--duration`` and a hard timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import httpx

HOST = "127.0.0.1"
BIN = Path(sys.executable).parent  # .venv/bin when run as .venv/bin/python -m bench...
BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
POSTGRES_ADMIN_URI = os.environ.get(
    "MLFLOW_CORE_BENCH_POSTGRES_URI", "postgresql://postgres@127.0.0.1:5432/postgres"
)
MYSQL_ADMIN_URI = os.environ.get("MLFLOW_CORE_BENCH_MYSQL_URI", "mysql://root@127.0.0.1:3306/")

DatabaseKind = Literal["sqlite", "postgresql", "mysql"]
DATABASE_KINDS: tuple[DatabaseKind, ...] = ("sqlite", "postgresql", "mysql")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- process trees


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may contain spaces and parentheses.
    return int(stat.rsplit(")", 1)[1].split()[1])


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            parent = _parent_of(int(entry))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry))
    found: list[int] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _status_kib(pid: int, path: str, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/{path}").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _short_command(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    args = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
    words = [Path(args[0]).name if args else "?"]
    for arg in args[1:]:
        if arg.startswith("--") and len(words) > 1:
            break
        words.append(arg if len(arg) < 60 else arg[:57] + "...")
    return " ".join(words[:4])


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_by_process(pid: int) -> dict[int, float]:
    """User plus system CPU seconds of ``pid`` and each of its descendants."""
    seconds: dict[int, float] = {}
    for member in [pid, *descendants(pid)]:
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[member] = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime
    return seconds


def tree_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` and its descendants."""
    return sum(tree_cpu_by_process(pid).values())


def busiest_share(before: dict[int, float], after: dict[int, float]) -> float:
    """The share of a tree's CPU (between two snapshots) that its busiest process used.

    With two workers, about 0.5 means the load was spread; near 1.0 means one worker served
    (nearly) every connection: the kernel hands each new connection to whichever worker
    accepts first, and wrk's connections live for the whole run.
    """
    used = {p: after[p] - before.get(p, 0.0) for p in after}
    total = sum(used.values())
    return max(used.values()) / total if total > 0 else 0.0


@dataclass(frozen=True)
class ProcessMemory:
    pid: int
    command: str
    rss_mib: float
    pss_mib: float


@dataclass(frozen=True)
class TreeMemory:
    """Resident memory of a process tree: RSS summed (shared pages counted once per process)
    and PSS summed (shared pages divided among their users, so it does add up)."""

    rss_mib: float
    pss_mib: float
    processes: list[ProcessMemory]


def tree_memory(pid: int) -> TreeMemory:
    processes = []
    for member in [pid, *descendants(pid)]:
        rss = _status_kib(member, "status", "VmRSS") / 1024
        pss = _status_kib(member, "smaps_rollup", "Pss") / 1024
        processes.append(ProcessMemory(member, _short_command(member), rss, pss))
    return TreeMemory(
        rss_mib=sum(p.rss_mib for p in processes),
        pss_mib=sum(p.pss_mib for p in processes),
        processes=processes,
    )


# --------------------------------------------------------------------------- servers


@dataclass
class Server:
    """A server subprocess in its own session, so its whole tree can be found and stopped."""

    name: str
    command: list[str]
    port: int
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    spawned_at: float = 0.0

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}-{self.port}.log"

    @property
    def pid(self) -> int:
        assert self.process is not None, "server not started"
        return self.process.pid

    def start(self) -> Server:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log_file:
            self.spawned_at = time.monotonic()
            self.process = subprocess.Popen(
                self.command,
                cwd=self.workdir,
                env={**os.environ, **self.env},
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_until_ok(
        self,
        path: str,
        *,
        method: str = "GET",
        body: str | None = None,
        timeout: float = 120.0,
    ) -> float:
        """Poll ``path`` until it answers 200; seconds from spawn until it did."""
        deadline = time.monotonic() + timeout
        headers = {"Content-Type": "application/json"} if body is not None else {}
        with httpx.Client(base_url=self.base_url, timeout=30.0) as client:
            while True:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(
                        f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}"
                    )
                try:
                    response = client.request(method, path, content=body, headers=headers)
                    if response.status_code == 200:
                        return time.monotonic() - self.spawned_at
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{self.name}: {method} {path} not 200 after {timeout}s\n{self.log_tail()}"
                    )
                time.sleep(0.05)

    def memory(self) -> TreeMemory:
        return tree_memory(self.pid)

    def wait_until_idle(
        self, max_cpu: float = 0.05, quiet_seconds: int = 2, timeout: float = 60.0
    ) -> float:
        """Wait until the tree uses under ``max_cpu`` cores for ``quiet_seconds`` in a row
        (start-up work in the background, such as loading MLflow's app, is over); seconds
        waited."""
        started = time.monotonic()
        quiet = 0
        before = tree_cpu_seconds(self.pid)
        while quiet < quiet_seconds and time.monotonic() - started < timeout:
            time.sleep(1.0)
            after = tree_cpu_seconds(self.pid)
            quiet = quiet + 1 if after - before < max_cpu else 0
            before = after
        if quiet < quiet_seconds:
            log(f"{self.name} still busy after {timeout}s; measuring anyway")
        return time.monotonic() - started

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM the server; SIGKILL whatever of its session is left after ``grace``."""
        if self.process is None:
            return
        pid = self.process.pid
        tree = [pid, *descendants(pid)]
        if self.process.poll() is None:
            os.kill(pid, signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                log(f"{self.name} ignored SIGTERM for {grace}s; killing its process group")
                os.killpg(pid, signal.SIGKILL)
                self.process.wait(10)
        # Children the server failed to reap (still in its session, so not a reused pid).
        deadline = time.monotonic() + 10
        for member in tree[1:]:
            while _in_session(member, pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _in_session(member, pid):
                log(f"{self.name}: killing leftover process {member}")
                os.kill(member, signal.SIGKILL)
        self.process = None


def _in_session(pid: int, session: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z" and os.getsid(pid) == session
    except (OSError, ProcessLookupError):
        return False


ServerKind = Literal["mlflow", "ours"]
_EXECUTABLES: dict[ServerKind, str] = {"mlflow": "mlflow", "ours": "mlflow-core"}
LABELS: dict[ServerKind, str] = {"mlflow": "mlflow server", "ours": "mlflow-core server"}


def tracking_server(
    kind: ServerKind, backend_store_uri: str, workers: int, workdir: Path
) -> Server:
    """``mlflow server`` or ``mlflow-core server`` with the same flags, on a free port."""
    port = free_port()
    executable = BIN / _EXECUTABLES[kind]
    if not executable.exists():
        raise FileNotFoundError(f"{executable} (run with the project's .venv/bin/python)")
    command = [
        str(executable),
        "server",
        "--backend-store-uri",
        backend_store_uri,
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    return Server(kind, command, port, workdir / kind)


@contextmanager
def running(server: Server, ready_path: str = "/health") -> Iterator[Server]:
    server.start()
    try:
        server.wait_until_ok(ready_path)
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- databases


def database_name(uri: str) -> str | None:
    """The database a PostgreSQL/MySQL URI names (None for SQLite)."""
    if uri.startswith("sqlite"):
        return None
    import sqlalchemy as sa

    return sa.engine.make_url(uri).database


@contextmanager
def temporary_database(kind: DatabaseKind, workdir: Path) -> Iterator[str]:
    """The URI of a new empty database of ``kind``, dropped (or deleted) afterwards.

    The URIs name the drivers installed here (psycopg 3, PyMySQL), which both servers accept.
    """
    name = f"mlflow_bench_{uuid.uuid4().hex[:10]}"
    if kind == "sqlite":
        directory = Path(tempfile.mkdtemp(prefix="mlflow-bench-db-", dir=workdir))
        try:
            yield f"sqlite:///{directory / (name + '.db')}"
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return
    import sqlalchemy as sa

    admin_url = sa.engine.make_url(POSTGRES_ADMIN_URI if kind == "postgresql" else MYSQL_ADMIN_URI)
    driver = "postgresql+psycopg" if kind == "postgresql" else "mysql+pymysql"
    admin_url = admin_url.set(drivername=driver)
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        log(f"created {kind} database {name}")
        try:
            yield admin_url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                force = " WITH (FORCE)" if kind == "postgresql" else ""
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
            log(f"dropped {kind} database {name}")
    finally:
        admin.dispose()


# --------------------------------------------------------------------------- wrk


@dataclass(frozen=True)
class Load:
    """One endpoint under load: a GET, a POST with a fixed JSON body, or a POST whose body a
    Lua function ``make_body(id, n)`` builds per request (``id``: wrk thread 1..T, ``n``: that
    thread's request counter, ``prefix``: a string unique to each wrk run)."""

    name: str
    method: Literal["GET", "POST"]
    path: str
    body: dict[str, Any] | None = None
    lua_make_body: str | None = None
    writes: bool = False  # changes the database (benchmarks run these after the reads)

    def lua_script(self) -> str | None:
        if self.lua_make_body is not None:
            prefix = uuid.uuid4().hex[:8]
            return _UNIQUE_BODY_LUA.format(
                prefix=prefix, method=self.method, make_body=self.lua_make_body
            )
        if self.method == "GET" and self.body is None:
            return None
        body = json.dumps(self.body) if self.body is not None else ""
        return (
            f'wrk.method = "{self.method}"\n'
            f"wrk.body = [==[{body}]==]\n"
            'wrk.headers["Content-Type"] = "application/json"\n'
        )


_UNIQUE_BODY_LUA = """\
local next_id = 1
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

prefix = "{prefix}"
n = 0
local headers = {{["Content-Type"] = "application/json"}}

{make_body}

function request()
  n = n + 1
  return wrk.format("{method}", nil, headers, make_body(id, n))
end
"""


@dataclass(frozen=True)
class WrkSettings:
    duration: int = 10
    warmup: int = 3
    connections: int = 8
    threads: int = 2
    timeout: int = 10  # seconds before wrk counts a request as a timeout


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    requests_per_second: float
    latency_ms: dict[str, float]  # percentile ("50", "75", "90", "99") -> milliseconds
    non_2xx_3xx: int
    socket_errors: int
    # CPU during the run, in cores (CPU seconds per second): the server's process tree, wrk,
    # the database server's processes, and everything else on the machine (other users' work,
    # kernel threads: a noisy-neighbour indicator).
    server_cores: float = 0.0
    wrk_cores: float = 0.0
    database_cores: float = 0.0
    other_cores: float = 0.0
    # The share of the server's CPU its busiest process used (see busiest_share).
    busiest_share: float = 0.0

    @property
    def errors(self) -> int:
        return self.non_2xx_3xx + self.socket_errors

    @property
    def p50(self) -> float:
        return self.latency_ms.get("50", float("nan"))

    @property
    def p99(self) -> float:
        return self.latency_ms.get("99", float("nan"))

    @property
    def server_cpu_ms_per_request(self) -> float:
        """CPU the server's processes spent per request: unlike req/s, barely moved by other
        load on the machine."""
        if not self.requests_per_second:
            return float("nan")
        return self.server_cores / self.requests_per_second * 1000

    @property
    def database_cpu_ms_per_request(self) -> float:
        if not self.requests_per_second:
            return float("nan")
        return self.database_cores / self.requests_per_second * 1000


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise ValueError(f"unexpected wrk duration {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", output, re.MULTILINE)
    if rps is None or total is None:
        raise ValueError(f"could not parse wrk output:\n{output}")
    latency: dict[str, float] = {}
    block = output.split("Latency Distribution", 1)
    if len(block) == 2:
        for pct, value in re.findall(r"^\s+(\d+(?:\.\d+)?)%\s+(\S+)", block[1], re.MULTILINE):
            latency[pct.removesuffix(".000")] = _milliseconds(value)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        requests=int(total.group(1)),
        seconds=_milliseconds(total.group(2) + total.group(3)) / 1000,
        requests_per_second=float(rps.group(1)),
        latency_ms=latency,
        non_2xx_3xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(g) for g in sockets.groups()) if sockets else 0,
    )


def run_wrk(base_url: str, load: Load, duration: int, settings: WrkSettings) -> WrkResult:
    """One wrk run of ``duration`` seconds against ``load`` (hard-stopped after +60 s)."""
    command = [
        "wrk",
        "--latency",
        "-t",
        str(settings.threads),
        "-c",
        str(settings.connections),
        "-d",
        f"{duration}s",
        "--timeout",
        f"{settings.timeout}s",
    ]
    script = load.lua_script()
    with tempfile.TemporaryDirectory(prefix="mlflow-bench-wrk-") as tmp:
        if script is not None:
            script_path = Path(tmp) / "load.lua"
            script_path.write_text(script)
            command += ["-s", str(script_path)]
        command.append(base_url + load.path)
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=duration + 60, check=False
        )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr}\n{done.stdout}")
    return parse_wrk(done.stdout)


def system_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat; idle and iowait excluded)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / _CLOCK_TICKS


DATABASE_PROCESS_NAMES = frozenset({"postgres", "postmaster", "mariadbd", "mysqld"})


# A key of database_cpu_snapshot that is no process id: the PostgreSQL server's exited
# children (their CPU is added to the postmaster's cutime and cstime when it reaps them).
_EXITED_POSTGRES_CHILDREN = -1


def database_cpu_snapshot(database: str | None) -> dict[int, float]:
    """CPU seconds per database server process: PostgreSQL backends serving ``database`` (their
    title names it) and every MySQL/MariaDB server process (one process for all databases, so
    other users of that server count too). Empty without a database name (SQLite).

    PostgreSQL's parallel workers serve a backend's query in processes of their own that name
    no database and exit with the query, so no snapshot sees them: their CPU is read from the
    postmaster's reaped-children times instead (key ``_EXITED_POSTGRES_CHILDREN``), which also
    hold every other exited child of the server (an autovacuum worker, a closed connection)."""
    snapshot: dict[int, float] = {}
    if not database:
        return snapshot
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            name = stat.split("(", 1)[1].rsplit(")", 1)[0]
            if name not in DATABASE_PROCESS_NAMES:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if name in ("postgres", "postmaster"):
                title = Path(f"/proc/{entry}/cmdline").read_bytes()
                if not title.startswith(b"postgres:"):
                    # The postmaster keeps its command line; its children retitle themselves.
                    snapshot[_EXITED_POSTGRES_CHILDREN] = (
                        snapshot.get(_EXITED_POSTGRES_CHILDREN, 0.0)
                        + (int(fields[13]) + int(fields[14])) / _CLOCK_TICKS
                    )
                    continue
                if f" {database} ".encode() not in title:
                    continue
        except OSError:
            continue
        snapshot[int(entry)] = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    return snapshot


def _database_cpu_since(before: dict[int, float], database: str | None) -> float:
    after = database_cpu_snapshot(database)
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(
    base_url: str,
    load: Load,
    settings: WrkSettings,
    server_pid: int | None = None,
    database: str | None = None,
) -> WrkResult:
    """Warm the endpoint up (result discarded unless it had errors), then measure it,
    recording where the machine's CPU went meanwhile (``database``: the benchmark database's
    name on a PostgreSQL/MySQL server, for the database's share)."""
    if settings.warmup > 0:
        warm = run_wrk(base_url, load, settings.warmup, settings)
        if warm.errors:
            log(f"  warm-up of {load.name} at {base_url}: {warm.errors} errors")
    busy = system_busy_seconds()
    server_before = tree_cpu_by_process(server_pid) if server_pid else {}
    server = sum(server_before.values())
    wrk = _children_cpu_seconds()
    database_before = database_cpu_snapshot(database)
    started = time.monotonic()
    result = run_wrk(base_url, load, settings.duration, settings)
    wall = time.monotonic() - started
    server_after = tree_cpu_by_process(server_pid) if server_pid else {}
    server_cores = (sum(server_after.values()) - server) / wall if server_pid else 0.0
    busiest = busiest_share(server_before, server_after)
    wrk_cores = (_children_cpu_seconds() - wrk) / wall
    database_cores = _database_cpu_since(database_before, database) / wall
    other_cores = (system_busy_seconds() - busy) / wall - server_cores - wrk_cores - database_cores
    result = replace(
        result,
        server_cores=server_cores,
        wrk_cores=wrk_cores,
        database_cores=database_cores,
        other_cores=max(0.0, other_cores),
        busiest_share=busiest,
    )
    log(
        f"  {load.name:<26} {base_url:<24} {result.requests_per_second:9.1f} req/s"
        f"  p50 {result.p50:8.2f} ms  p99 {result.p99:8.2f} ms  errors {result.errors}"
        f"  cores: server {server_cores:.2f} wrk {wrk_cores:.2f} db {database_cores:.2f}"
        f" other {result.other_cores:.2f}  busiest server process {busiest:.0%}"
    )
    return result


def check_ok(base_url: str, load: Load) -> None:
    """One request with ``load``'s fixed body; raise with the answer unless it is 200."""
    if load.lua_make_body is not None:
        return
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        response = client.request(
            load.method,
            load.path,
            content=json.dumps(load.body) if load.body is not None else None,
            headers={"Content-Type": "application/json"} if load.body is not None else {},
        )
    if response.status_code != 200:
        raise RuntimeError(
            f"{load.name} at {base_url}: HTTP {response.status_code}: {response.text[:500]}"
        )


# --------------------------------------------------------------------------- reporting


def median_result(results: Sequence[WrkResult]) -> WrkResult:
    """The run with the median requests/s (the lower middle one for an even count)."""
    ordered = sorted(results, key=lambda r: r.requests_per_second)
    return ordered[(len(ordered) - 1) // 2]


@dataclass(frozen=True)
class Comparison:
    """One endpoint on both servers: every round's result, reported by the median round."""

    name: str
    mlflow_rounds: list[WrkResult]
    ours_rounds: list[WrkResult]

    @property
    def mlflow(self) -> WrkResult:
        return median_result(self.mlflow_rounds)

    @property
    def ours(self) -> WrkResult:
        return median_result(self.ours_rounds)

    @property
    def ratio(self) -> float:
        if self.mlflow.requests_per_second == 0:
            return float("inf")
        return self.ours.requests_per_second / self.mlflow.requests_per_second

    @property
    def errors(self) -> tuple[int, int]:
        return (
            sum(r.errors for r in self.mlflow_rounds),
            sum(r.errors for r in self.ours_rounds),
        )


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def _latency(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def rate(results: Sequence[WrkResult]) -> str:
    """Median req/s, with the range over rounds when there was more than one."""
    middle = _number(median_result(results).requests_per_second)
    if len(results) < 2:
        return middle
    values = [r.requests_per_second for r in results]
    return f"{middle} ({_number(min(values))}-{_number(max(values))})"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def comparison_table(comparisons: Sequence[Comparison]) -> str:
    """Req/s (median round, range), latency of the median round, and medians over rounds of
    CPU per request (server tree; database server) and of the other load on the machine."""
    header = [
        "endpoint",
        "MLflow req/s",
        "ours req/s",
        "ours/MLflow",
        "p50 ms MLflow / ours",
        "p99 ms MLflow / ours",
        "server CPU ms/req MLflow / ours",
        "DB CPU ms/req MLflow / ours",
        "other load (cores) MLflow / ours",
        "errors MLflow / ours",
    ]
    rows = []
    for c in comparisons:
        mlflow_errors, ours_errors = c.errors
        cpu = [
            median([r.server_cpu_ms_per_request for r in rounds])
            for rounds in (c.mlflow_rounds, c.ours_rounds)
        ]
        db = [
            median([r.database_cpu_ms_per_request for r in rounds])
            for rounds in (c.mlflow_rounds, c.ours_rounds)
        ]
        other = [
            median([r.other_cores for r in rounds]) for rounds in (c.mlflow_rounds, c.ours_rounds)
        ]
        rows.append(
            [
                c.name,
                rate(c.mlflow_rounds),
                rate(c.ours_rounds),
                f"{c.ratio:.1f}x",
                f"{_latency(c.mlflow.p50)} / {_latency(c.ours.p50)}",
                f"{_latency(c.mlflow.p99)} / {_latency(c.ours.p99)}",
                f"{cpu[0]:.2f} / {cpu[1]:.2f} ({cpu[0] / cpu[1]:.1f}x less)",
                f"{db[0]:.2f} / {db[1]:.2f}",
                f"{other[0]:.2f} / {other[1]:.2f}",
                f"{mlflow_errors} / {ours_errors}",
            ]
        )
    return markdown_table(header, rows)


def save_results(stem: str, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (dataclasses are converted) to bench/results/<stem>-<time>.json."""
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(payload, indent=2, default=_jsonable))
    return path


def save_comparisons(
    stem: str,
    args: argparse.Namespace,
    started: str,
    table: str,
    comparisons: Sequence[Comparison],
    extra: dict[str, Any],
) -> None:
    """Save a side-by-side run (flags, table, every round, ``extra``) and log where."""
    path = save_results(
        stem,
        {
            "started": started,
            "machine": machine_description(),
            "args": vars(args),
            "table": table,
            "comparisons": comparisons,
            **extra,
        },
    )
    log(f"results saved to {path}")


def report_errors(comparisons: Sequence[Comparison], workdir: str, keep_logs: bool) -> None:
    """Print the total of errors, if any; then keep the servers' logs in ``workdir`` (always
    kept after errors), or delete it."""
    total_errors = sum(sum(c.errors) for c in comparisons)
    if total_errors:
        print(f"\nERRORS: {total_errors} non-2xx or socket errors in total (see the table)")
    if total_errors or keep_logs:
        log(f"servers' logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


def _jsonable(value: object) -> object:
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)  # type: ignore[call-overload]
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value)}")


def machine_description() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {sys.version.split()[0]}"


# --------------------------------------------------------------------------- side by side

SERVER_KINDS: tuple[ServerKind, ...] = ("mlflow", "ours")


@dataclass(frozen=True)
class SideBySide:
    """Both servers running on one database."""

    servers: dict[ServerKind, Server]
    seconds_to_health: dict[ServerKind, float]
    database: str | None  # its name on PostgreSQL/MySQL, for the database's CPU share
    workers: int = 1


@contextmanager
def side_by_side(
    uri: str, workers: int, workdir: Path, ready_timeout: float = 120.0
) -> Iterator[SideBySide]:
    """``mlflow server`` and ``mlflow-core server`` on ``uri`` at once, with the same
    ``--workers``, each answering /health and idle (start-up work in the background, such as
    our load of MLflow's app, is over); both stopped afterwards."""
    servers = {kind: tracking_server(kind, uri, workers, workdir) for kind in SERVER_KINDS}
    try:
        for server in servers.values():
            server.start()
        seconds: dict[ServerKind, float] = {}
        for kind, server in servers.items():
            seconds[kind] = server.wait_until_ok("/health", timeout=ready_timeout)
            log(f"{LABELS[kind]} on port {server.port}: /health after {seconds[kind]:.1f}s")
        for server in servers.values():
            server.wait_until_idle()
        yield SideBySide(servers, seconds, database_name(uri), workers)
    finally:
        for server in servers.values():
            server.stop()


def compare(
    pair: SideBySide,
    loads: Mapping[ServerKind, Sequence[Load]],
    settings: WrkSettings,
    rounds: int = 1,
) -> list[Comparison]:
    """Measure each endpoint on one server then the other, ``rounds`` times.

    ``loads[kind]``: the endpoints as sent to that server, the same names in the same order
    for both (a write may target a different row on each). Which server goes first alternates
    from one measurement to the next, so neither always meets the machine in the same state
    (the idle one uses no CPU). Reads run first (all rounds), then writes, so every read sees
    the seeded data only. One ``Comparison`` per endpoint, in ``loads``' order."""
    by_name = {kind: {load.name: load for load in loads[kind]} for kind in SERVER_KINDS}
    names = [load.name for load in loads["ours"]]
    reads = [name for name in names if not by_name["ours"][name].writes]
    writes = [name for name in names if by_name["ours"][name].writes]
    rounds_of: dict[tuple[str, ServerKind], list[WrkResult]] = {}
    step = 0
    for phase in (reads, writes):
        for _ in range(rounds):
            for name in phase:
                order: list[ServerKind] = ["mlflow", "ours"]
                if step % 2:
                    order.reverse()
                step += 1
                for kind in order:
                    server, load = pair.servers[kind], by_name[kind][name]
                    check_ok(server.base_url, load)
                    result = _measure_spread(pair, server, load, settings)
                    rounds_of.setdefault((name, kind), []).append(result)
    return [
        Comparison(name, rounds_of[(name, "mlflow")], rounds_of[(name, "ours")]) for name in names
    ]


# Measuring again when one worker served every connection: wrk opens its connections at once
# and keeps them, and the worker that wakes first accepts every pending one (both servers share
# one listening socket among their workers). Such a round measures one worker, not --workers.
_SPREAD_ATTEMPTS = 3


def _measure_spread(
    pair: SideBySide, server: Server, load: Load, settings: WrkSettings
) -> WrkResult:
    # Half-way between an even spread (1 / workers) and one process doing everything.
    lopsided = (1.0 / pair.workers + 1.0) / 2
    for attempt in range(1, _SPREAD_ATTEMPTS + 1):
        result = measure(server.base_url, load, settings, server.pid, pair.database)
        if pair.workers < 2 or result.busiest_share < lopsided or attempt == _SPREAD_ATTEMPTS:
            return result
        log(f"  one worker served every connection ({result.busiest_share:.0%}): again")
    raise AssertionError("unreachable")


def add_side_by_side_arguments(
    parser: argparse.ArgumentParser,
    *,
    db: DatabaseKind = "sqlite",
    duration: int = 10,
    warmup: int = 3,
    connections: int = 8,
    warmup_per: str = "endpoint",
    threads_help: str = "wrk threads",
) -> None:
    """--db, --workers and wrk's --duration, --warmup, --connections, --threads."""
    parser.add_argument("--db", choices=DATABASE_KINDS, default=db)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=int, default=duration, help="seconds per measurement")
    parser.add_argument(
        "--warmup", type=int, default=warmup, help=f"seconds of warm-up per {warmup_per}"
    )
    parser.add_argument("--connections", type=int, default=connections)
    parser.add_argument("--threads", type=int, default=2, help=threads_help)


def wrk_settings(args: argparse.Namespace) -> WrkSettings:
    """``WrkSettings`` from the flags ``add_side_by_side_arguments`` adds."""
    return WrkSettings(
        duration=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        threads=args.threads,
    )
