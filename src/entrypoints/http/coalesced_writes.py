"""uvicorn's httptools protocol with a response's writes sent together.

uvicorn writes a response's status line and headers as soon as the application starts the
response, and the body in a second write; each write is a ``send`` on a TCP_NODELAY socket,
so every response leaves as two segments and wakes the client twice. On these virtual
machines a wake-up of another process costs more than the Python work of a small read.
The transport below gathers what one turn of the event loop writes and sends it at the end
of that turn, in one call: the headers and body of a response (which an ASGI application
sends back to back, without waiting in between) go out as one segment. Large writes are not
held back: flow control (uvicorn pausing the application while the socket's buffer is full)
sees them as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# Above this many pending bytes a write goes out at once.
_HOLD_AT_MOST = 64 * 1024


class CoalescingTransport:
    """A transport whose writes of one loop turn reach the socket as one write."""

    __slots__ = ("_loop", "_pending", "_pending_bytes", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._pending_bytes = 0

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes > _HOLD_AT_MOST:
            self._flush()

    def writelines(self, list_of_data: Iterable[bytes]) -> None:
        for data in list_of_data:
            self.write(data)

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending = []
            self._pending_bytes = 0
            self._transport.write(data)

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def close(self) -> None:
        # What was written before close() goes out first, as with a plain transport.
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending = []
        self._pending_bytes = 0
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._pending_bytes

    def __getattr__(self, name: str) -> Any:
        # Everything else (pause/resume reading, extra info, is_closing, ...) is the socket's.
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """``uvicorn.protocols.http.httptools_impl.HttpToolsProtocol`` over ``CoalescingTransport``."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # uvloop's transports are not asyncio.Transport subclasses: the wrapper delegates.
        coalescing = CoalescingTransport(transport, self.loop)
        super().connection_made(coalescing)  # type: ignore[arg-type]
