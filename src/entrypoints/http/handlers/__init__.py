"""One function per ported RPC: read the parsed request, call a service, shape the answer.

Handlers are plain synchronous functions; the app runs them on the unit-of-work runner of the
database behind them (a worker thread, or a greenlet for async drivers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from mlflow_core.entrypoints.http.requests import ParsedRequest
from mlflow_core.services.tracking import TrackingService


class _Defer:
    """Returned by a handler to let MLflow's own application answer this request."""

    def __repr__(self) -> str:
        return "DEFER"


DEFER: Final = _Defer()
Answer = dict[str, Any] | _Defer
TrackingHandler = Callable[[TrackingService, ParsedRequest], Answer]
