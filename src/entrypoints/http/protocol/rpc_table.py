"""The shapes of the generated RPC table (``rpcs.py``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One HTTP binding of an RPC, as declared by its ``databricks.rpc`` option."""

    method: str
    path: str  # as written in the .proto, e.g. "/mlflow/experiments/create"
    since_major: int

    def http_paths(self) -> tuple[str, str]:
        """The REST and AJAX paths MLflow serves this endpoint at (``handlers._get_paths``)."""
        # The path is used as written: MLflow does not add a missing leading slash either.
        path = self.path.replace("{assessment.trace_id}", "{trace_id}")
        return (f"/api/{self.since_major}.0{path}", f"/ajax-api/{self.since_major}.0{path}")


@dataclass(frozen=True, slots=True)
class Rpc:
    service: str
    name: str
    request: str  # class name in protocol.messages
    response: str
    endpoints: tuple[Endpoint, ...]
    ported: bool = False
