"""Handlers for metric histories: get-history (streamed) and get-history-bulk-interval."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from mlflow_core.entrypoints.http.handlers import Answer, Handler, HandlerSet, Streamed
from mlflow_core.entrypoints.http.protocol import messages
from mlflow_core.entrypoints.http.request_rules import (
    RuleFailed,
    Rules,
    array,
    intlike,
    required,
    string,
)
from mlflow_core.entrypoints.http.requests import ParsedRequest
from mlflow_core.entrypoints.http.wire import runs as wire
from mlflow_core.services.runs import (
    MAX_RESULTS_PER_RUN,
    MAX_RUNS_PER_BULK_INTERVAL,
    MetricHistoryPage,
)
from mlflow_core.services.tracking import TrackingService


def _history_json(page: MetricHistoryPage) -> Iterator[bytes]:
    """``{"metrics": [...], "next_page_token": ...}`` written chunk by chunk (``{}`` if empty)."""
    chunks = iter(page)
    first = next(chunks, None)
    if first is None:
        yield b"{}"
        return
    yield b'{"metrics":' + orjson.dumps([wire.metric_point(p) for p in first])[:-1]
    for chunk in chunks:
        yield b"," + orjson.dumps([wire.metric_point(p) for p in chunk])[1:-1]
    tail = b"]"
    if page.next_page_token:
        tail += b',"next_page_token":' + orjson.dumps(page.next_page_token)
    yield tail + b"}"


def get_metric_history(service: TrackingService, request: ParsedRequest) -> Answer:
    message: messages.GetMetricHistory = request.message
    page = service.get_metric_history(
        message.run_id or message.run_uuid,
        message.metric_key,
        max_results=message.max_results if message.HasField("max_results") else None,
        page_token=message.page_token or None,
    )
    return Streamed(_history_json(page))


def _query_int(raw: dict[str, Any], name: str) -> int | None:
    value = raw.get(name)
    return None if value is None else int(value)


def get_metric_history_bulk_interval(service: TrackingService, request: ParsedRequest) -> Answer:
    message: messages.GetMetricHistoryBulkInterval = request.message
    # MLflow reads max_results and the steps from the query string itself, not the message.
    max_results = _query_int(request.raw, "max_results")
    points = service.get_metric_history_bulk_interval(
        list(message.run_ids),
        message.metric_key,
        max_results=MAX_RESULTS_PER_RUN if max_results is None else max_results,
        start_step=_query_int(request.raw, "start_step"),
        end_step=_query_int(request.raw, "end_step"),
    )
    if not points:
        return {}
    return {"metrics": [wire.metric_point(p, run_id) for run_id, p in points]}


def _at_most_runs(value: Any) -> None:
    if len(value) > MAX_RUNS_PER_BULK_INTERVAL:
        raise RuleFailed(
            "GetMetricHistoryBulkInterval request must specify at most "
            f"{MAX_RUNS_PER_BULK_INTERVAL} run_ids. Received {len(value)} run_ids."
        )


def _max_results_in_range(value: Any) -> None:
    if not 1 <= int(value) <= MAX_RESULTS_PER_RUN:
        raise RuleFailed(f"max_results must be between 1 and {MAX_RESULTS_PER_RUN}.")


def _item_strings(value: Any) -> None:
    if not all(isinstance(item, str) for item in value):
        raise RuleFailed()


RULES: dict[str, Rules] = {
    "GetMetricHistory": {
        "run_id": (string, required),
        "metric_key": (string, required),
        "page_token": (string,),
    },
    "GetMetricHistoryBulkInterval": {
        "run_ids": (required, array, _item_strings, _at_most_runs),
        "metric_key": (required, string),
        "start_step": (intlike,),
        "end_step": (intlike,),
        "max_results": (intlike, _max_results_in_range),
    },
}

HANDLERS: dict[str, Handler[TrackingService]] = {
    "getMetricHistory": get_metric_history,
    "getMetricHistoryBulkInterval": get_metric_history_bulk_interval,
}

METRICS = HandlerSet(HANDLERS, RULES)
