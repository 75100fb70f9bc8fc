"""One function per ported RPC: read the parsed request, call a service, shape the answer.

Handlers are plain synchronous functions; the app runs them on the unit-of-work runner of the
database behind them (a worker thread, or a greenlet for async drivers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

from mlflow_core.domain.paging import Page
from mlflow_core.entrypoints.http.request_rules import Rules
from mlflow_core.entrypoints.http.requests import ParsedRequest

S = TypeVar("S")
T = TypeVar("T")


class _Defer:
    """Returned by a handler to let MLflow's own application answer this request."""

    def __repr__(self) -> str:
        return "DEFER"


DEFER: Final = _Defer()


@dataclass(slots=True)
class Streamed:
    """A JSON body produced in parts, so a large answer is never held whole.

    ``parts`` is a synchronous iterator doing its own database reads: the app pulls each part
    on the route's runner, sends the response head with the first part (an error before it is
    an ordinary error answer) and the rest as they come.
    """

    parts: Iterator[bytes]


Answer = dict[str, Any] | _Defer | Streamed
Handler = Callable[[S, ParsedRequest], Answer]


@dataclass(frozen=True, slots=True)
class HandlerSet(Generic[S]):
    """The handlers of one area of the API (all on one service) and their request rules."""

    handlers: Mapping[str, Handler[S]]  # by RPC name, as in the .proto
    rules: Mapping[str, Rules]  # by request message class name (protocol.messages)


def page_answer(key: str, page: Page[T], to_wire: Callable[[T], Any]) -> dict[str, Any]:
    """A search RPC's answer: the page's items under ``key`` and its ``next_page_token``,
    each left out when empty, as MLflow's JSON (proto3, empty fields omitted) has it."""
    answer: dict[str, Any] = {}
    if page.items:
        answer[key] = [to_wire(item) for item in page.items]
    if page.next_page_token:
        answer["next_page_token"] = page.next_page_token
    return answer
