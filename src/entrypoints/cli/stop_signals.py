"""Stop signals that arrive while the server starts, kept for the loop that will serve.

Between the schema check and the moment uvicorn (one worker) or its supervisor (several)
installs its own handlers, a SIGTERM or SIGINT must neither kill the process half-started nor
be lost. A handler that raises ``SystemExit`` can be lost: Python runs signal handlers between
any two bytecodes of the main thread, a finalizer's (``__del__``, a weakref callback, run by
the garbage collector while modules load) included, and an exception escaping a finalizer is
printed as "Exception ignored" and dropped. A server that lost its SIGTERM that way served on
(seen once in CI: a second SIGTERM stopped it). So the handler here only records the signal,
and whoever takes over the handlers replays what was recorded.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType
from typing import Final

import uvicorn

STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)
_received: list[int] = []


def _record(signum: int, _frame: FrameType | None) -> None:
    _received.append(signum)


def hold() -> None:
    """Record stop signals from now on, until uvicorn installs its handlers."""
    _received.clear()
    for signum in STOP_SIGNALS:
        signal.signal(signum, _record)


def received() -> list[int]:
    """The stop signals recorded so far, oldest first."""
    return list(_received)


class SingleWorkerServer(uvicorn.Server):
    """uvicorn's server, told at once of the stop signals that came before its handlers.

    Once it has shut down, uvicorn restores the recording handler and raises the signal that
    stopped it again; recorded, it ends nothing, and the caller returns normally (exit code 0,
    as ``mlflow server`` ends on SIGTERM) after stopping what runs beside the server.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            for signum in received():
                self.handle_exit(signum, None)
            yield
