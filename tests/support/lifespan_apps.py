"""ASGI applications (lifespan only) that server tests start by import string in a child
process: ``tests.support.lifespan_apps:<name>``. Each writes what happened in its worker to a
folder the test names in the environment, or fails its start-up.
"""

from __future__ import annotations

import atexit
import gc
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def refuses_to_start(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """Fails its start-up in every worker."""
    assert scope["type"] == "lifespan"
    await receive()  # lifespan.startup
    await send({"type": "lifespan.startup.failed", "message": "this application never starts"})


async def notes_its_start(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """Writes ``<START_NOTES>/<pid>`` when it starts."""
    assert scope["type"] == "lifespan"
    await receive()  # lifespan.startup
    (Path(os.environ["START_NOTES"]) / str(os.getpid())).write_text("started")
    await send({"type": "lifespan.startup.complete"})
    await receive()  # lifespan.shutdown
    await send({"type": "lifespan.shutdown.complete"})


async def notes_its_exit(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """Registers an exit handler in its worker, as MLflow's modules do, which writes
    ``<EXIT_NOTES>/<pid>`` when the worker ends."""
    assert scope["type"] == "lifespan"
    await receive()  # lifespan.startup
    note = Path(os.environ["EXIT_NOTES"]) / str(os.getpid())
    atexit.register(note.write_text, "ran")
    await send({"type": "lifespan.startup.complete"})
    await receive()  # lifespan.shutdown
    await send({"type": "lifespan.shutdown.complete"})


async def notes_its_frozen_heap(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """Writes ``<START_NOTES>/<pid>``: how many objects its worker found frozen at start."""
    assert scope["type"] == "lifespan"
    await receive()  # lifespan.startup
    note = Path(os.environ["START_NOTES"]) / str(os.getpid())
    note.write_text(str(gc.get_freeze_count()))
    await send({"type": "lifespan.startup.complete"})
    await receive()  # lifespan.shutdown
    await send({"type": "lifespan.shutdown.complete"})
