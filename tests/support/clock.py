"""A clock tests can set."""

from __future__ import annotations


class FixedClock:
    def __init__(self, now_ms: int = 1_700_000_000_000) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now

    def advance(self, ms: int = 1) -> None:
        self.now += ms
