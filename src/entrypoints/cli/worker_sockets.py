"""Several uvicorn workers, each listening on its own socket of one SO_REUSEPORT group (Linux).

uvicorn's supervisor binds one socket and every worker accepts from it. A client that opens its
connections at once and keeps them (wrk, a proxy's keep-alive pool, a training cluster) then has
them all accepted by whichever worker wakes first, and that worker serves them for their whole
life while the others idle. Here each worker binds the address itself with SO_REUSEPORT and the
kernel spreads new connections over the group's listening sockets by a hash of their addresses.

The parent keeps uvicorn's supervisor (ping/pong health checks, a dead worker replaced, a worker
that fails at start-up stops the server, SIGTERM/SIGINT/HUP/TTIN/TTOU); only the workers it
starts differ: their own sockets, and forked rather than spawned (``OwnSocketWorker``). It
checks the address the way uvicorn does (same message and exit code when the port is taken)
and then holds it bound but never listening: a bound socket that does not listen receives no
connections, and it is never handed to a worker.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import logging
import multiprocessing
import os
import select
import signal
import socket
import sys
from collections.abc import Callable

from uvicorn import Config
from uvicorn._subprocess import subprocess_started
from uvicorn.config import HTTP_PROTOCOLS, LOOP_FACTORIES, STARTUP_FAILURE
from uvicorn.importer import import_from_string
from uvicorn.supervisors.multiprocess import SIGNALS, Multiprocess, Process

from mlflow_core.entrypoints.cli import stop_signals

logger = logging.getLogger("uvicorn.error")
_FORK = multiprocessing.get_context("fork")


def available() -> bool:
    """Linux balances connections across a SO_REUSEPORT group; elsewhere the option differs."""
    return sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


def _bound(config: Config, options: tuple[int, ...]) -> socket.socket:
    # As Config.bind_socket: an address with ":" is IPv6 ("::" also takes IPv4 by default).
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        for option in options:
            sock.setsockopt(socket.SOL_SOCKET, option, 1)
        sock.bind((config.host, config.port))
    except OSError:
        sock.close()
        raise
    return sock


def reserve_address(config: Config) -> socket.socket:
    """Check the address is free and hold it, bound and not listening, for the workers to join."""
    # uvicorn's own bind (SO_REUSEADDR, without SO_REUSEPORT) fails on any socket listening
    # there, a SO_REUSEPORT one included, with today's message and exit code; it also logs
    # "Uvicorn running on ...".
    config.bind_socket().close()
    try:
        # Without SO_REUSEADDR this socket makes that same check fail for a second server
        # started on the port while our workers are still starting (not listening yet).
        return _bound(config, (socket.SO_REUSEPORT,))
    except OSError:
        pass
    try:
        # TIME_WAIT connections of an earlier server without SO_REUSEPORT (one worker, stock
        # MLflow) refuse the socket above until they expire; SO_REUSEADDR passes over them.
        return _bound(config, (socket.SO_REUSEADDR, socket.SO_REUSEPORT))
    except OSError as exc:
        logger.error(exc)
        sys.exit(STARTUP_FAILURE)


def worker_socket(config: Config) -> socket.socket:
    """The worker's own socket; it listens once uvicorn serves on it, after the app started."""
    try:
        return _bound(config, (socket.SO_REUSEADDR, socket.SO_REUSEPORT))
    except OSError as exc:
        logger.error(exc)
        sys.exit(STARTUP_FAILURE)  # the supervisor stops the server instead of restarting it


class OwnSocketWorker(Process):
    """A uvicorn worker process, forked, that serves on a socket it binds itself.

    uvicorn spawns its workers: each starts a new interpreter and imports the application
    again, seconds on a small machine with every worker importing at once. Forked from the
    supervisor, which imported the application's modules first (``serve``), a worker starts
    in a few milliseconds; the application itself is still built in the worker (the factory
    runs there), so no database connection or thread crosses the fork.
    """

    def __init__(self, config: Config, leave_supervisor: Callable[[], None]) -> None:
        super().__init__(config, [])
        self._leave_supervisor = leave_supervisor
        # uvicorn's own child entry point, in a forked rather than a spawned process (uvicorn
        # annotates a SpawnProcess; the supervisor uses only the API both share).
        self.process = _FORK.Process(  # type: ignore[assignment]
            target=subprocess_started,
            kwargs={"config": config, "target": self.target, "sockets": [], "stdin_fileno": None},
        )

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # runs in the worker
        # What the fork copied that a spawned worker would not have: the supervisor's signal
        # handlers (they queue signals for a loop that does not run here) and its descriptors.
        # uvicorn's server installs its own handlers for SIGINT and SIGTERM.
        for inherited in SIGNALS:
            handler = signal.default_int_handler if inherited == signal.SIGINT else signal.SIG_DFL
            signal.signal(inherited, handler)
        self._leave_supervisor()
        try:
            super().target([worker_socket(self.config)])
        finally:
            # A forked process ends in os._exit, which skips the exit handlers a spawned
            # worker ending through Python (SIGINT, an error) runs (MLflow's: temporary
            # directories, telemetry); run them here.
            atexit._run_exitfuncs()


class ReuseportSupervisor(Multiprocess):
    """uvicorn's supervisor, starting ``OwnSocketWorker``s and remembering a start-up failure.

    The four methods after ``run`` are uvicorn 0.54's with ``Process(self.config,
    self.sockets)`` replaced by ``self._start_worker()``.
    """

    def __init__(
        self, config: Config, reservation: socket.socket, on_forked: Callable[[], None]
    ) -> None:
        super().__init__(config, sockets=[])
        # Its handlers queue signals from here on; those that came earlier were recorded.
        self.signal_queue.extend(stop_signals.received())
        self.startup_failed = False
        self._reservation = reservation
        self._on_forked = on_forked
        # Written by Python's C-level signal handler (signal.set_wakeup_fd) on every signal.
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)

    def run(self) -> None:
        """uvicorn's loop, woken by a signal at once instead of at its next half-second poll:
        a stop takes 0.25 s less on average (test suites stop a server hundreds of times)."""
        previous = signal.set_wakeup_fd(self._wake_write)
        try:
            logger.info(f"Started parent process [{os.getpid()}]")
            self.handle_signals()  # a stop that came during the start-up forks no worker
            if not self.should_exit.is_set():
                self.init_processes()
            while not self.should_exit.is_set():
                select.select([self._wake_read], [], [], 0.5)
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_read, 4096)
                self.handle_signals()
                self.keep_subprocess_alive()
            self.terminate_all()
            self.join_all()
            logger.info(f"Stopping parent process [{os.getpid()}]")
        finally:
            signal.set_wakeup_fd(previous)
            os.close(self._wake_read)
            os.close(self._wake_write)

    def _leave_supervisor(self) -> None:
        """In a new worker: drop the supervisor's descriptors (the pipe, the address's hold)."""
        signal.set_wakeup_fd(-1)
        os.close(self._wake_read)
        os.close(self._wake_write)
        self._reservation.close()

    def _start_worker(self) -> Process:
        process = OwnSocketWorker(self.config, self._leave_supervisor)
        process.start()
        return process

    def init_processes(self) -> None:
        for _ in range(self.processes_num):
            self.processes.append(self._start_worker())
        self._on_forked()

    def restart_all(self) -> None:
        """On SIGHUP each replacement listens before the worker it replaces is stopped."""
        for idx, old_process in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new_process = self._start_worker()
            timeout = self.config.timeout_worker_healthcheck
            if not new_process.wait_until_ready(timeout, self.should_exit):
                new_process.kill()
                new_process.join()
                if not self.should_exit.is_set():
                    logger.error(
                        f"New child process [{new_process.pid}] was not ready in time; "
                        f"keeping worker [{old_process.pid}] and aborting the restart."
                    )
                return
            old_process.terminate()
            old_process.join()
            self.processes[idx] = new_process

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for idx, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung: kill it
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                # It failed before serving (app, socket): every replacement would fail the same.
                logger.error(
                    f"Child process [{process.pid}] failed to start, stopping the parent process."
                )
                self.startup_failed = True
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            logger.info(f"Child process [{process.pid}] died")
            self.processes[idx] = self._start_worker()

    def handle_ttin(self) -> None:
        logger.info("Received SIGTTIN, increasing the number of processes.")
        self.processes_num += 1
        self.processes.append(self._start_worker())


def serve(config: Config, on_forked: Callable[[], None] = lambda: None) -> None:
    """Run ``config.workers`` workers on per-worker sockets until told to stop.

    ``on_forked`` runs in the supervisor once the first workers are forked: what it starts
    (MLflow's job runner, importing MLflow for seconds) then takes no CPU from their start-up,
    and its watching thread, which holds no lock a worker uses, is in no first worker.

    Exits with uvicorn's start-up failure code when the address is taken or a worker fails
    before serving (uvicorn's own supervisor returns normally there).
    """
    reservation = reserve_address(config)
    try:
        # Imported once here, before the workers are forked, rather than by every worker.
        # (The names are resolved as uvicorn's Config.load resolves them.)
        import_from_string(config.app)
        if isinstance(config.http, str):
            import_from_string(HTTP_PROTOCOLS.get(config.http, config.http))
        import_from_string(LOOP_FACTORIES.get(config.loop, config.loop))
        # What the workers inherit stays shared with the supervisor only while nobody writes
        # to it: frozen, the imported objects are never walked by a worker's collector, which
        # would write to each one's header and so copy every page they lie on.
        gc.freeze()
        supervisor = ReuseportSupervisor(config, reservation, on_forked)
        supervisor.run()
    finally:
        reservation.close()
    if supervisor.startup_failed:
        sys.exit(STARTUP_FAILURE)
