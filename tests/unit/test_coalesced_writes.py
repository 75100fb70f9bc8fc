"""A response's writes leave in one socket write; nothing is lost, reordered or held back."""

from __future__ import annotations

import asyncio
from typing import Any

from mlflow_core.entrypoints.http.coalesced_writes import CoalescingTransport


class RecordingTransport:
    """What the socket was asked to do, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    def close(self) -> None:
        self.calls.append(("close", None))

    def abort(self) -> None:
        self.calls.append(("abort", None))

    def write_eof(self) -> None:
        self.calls.append(("write_eof", None))

    def get_write_buffer_size(self) -> int:
        return 7

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 5000) if name == "sockname" else default


def _run(scenario: Any) -> list[tuple[str, Any]]:
    async def main() -> list[tuple[str, Any]]:
        socket = RecordingTransport()
        transport = CoalescingTransport(socket, asyncio.get_running_loop())  # type: ignore[arg-type]
        await scenario(transport, socket)
        return socket.calls

    return asyncio.run(main())


def test_headers_and_body_of_one_turn_leave_in_one_write() -> None:
    async def scenario(transport: CoalescingTransport, socket: RecordingTransport) -> None:
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        transport.write(b"{}")
        assert socket.calls == []  # held until the loop turn ends
        assert transport.get_write_buffer_size() == 7 + 40
        await asyncio.sleep(0)
        transport.write(b"next")
        await asyncio.sleep(0)

    assert _run(scenario) == [
        ("write", b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"),
        ("write", b"next"),
    ]


def test_close_sends_what_was_written_first() -> None:
    async def scenario(transport: CoalescingTransport, socket: RecordingTransport) -> None:
        transport.writelines([b"a", b"b"])
        transport.close()
        await asyncio.sleep(0)

    assert _run(scenario) == [("write", b"ab"), ("close", None)]


def test_write_eof_sends_what_was_written_first() -> None:
    async def scenario(transport: CoalescingTransport, socket: RecordingTransport) -> None:
        transport.write(b"tail")
        transport.write_eof()
        await asyncio.sleep(0)

    assert _run(scenario) == [("write", b"tail"), ("write_eof", None)]


def test_large_writes_are_not_held_back() -> None:
    """Flow control must see a large body at once, as it would without coalescing."""
    big = b"x" * (64 * 1024)

    async def scenario(transport: CoalescingTransport, socket: RecordingTransport) -> None:
        transport.write(b"head")
        transport.write(big)
        assert socket.calls == [("write", b"head" + big)]
        await asyncio.sleep(0)

    assert _run(scenario) == [("write", b"head" + big)]


def test_abort_drops_what_is_pending() -> None:
    async def scenario(transport: CoalescingTransport, socket: RecordingTransport) -> None:
        transport.write(b"never sent")
        transport.abort()
        await asyncio.sleep(0)

    assert _run(scenario) == [("abort", None)]


def test_everything_else_is_the_sockets() -> None:
    async def scenario(transport: CoalescingTransport, socket: RecordingTransport) -> None:
        assert transport.get_extra_info("sockname") == ("127.0.0.1", 5000)

    assert _run(scenario) == []
