"""Per-RPC request rules, as MLflow's handlers declare them (``schema=`` in handlers.py).

A rule set maps a request field to checks run on the raw JSON value. As in MLflow, type checks
run only when protobuf could not parse the request, a field is checked only when present or
required, and a failed check answers INVALID_PARAMETER_VALUE with MLflow's message plus its
"See the API docs ..." suffix. Each handler module declares its RPCs' rule sets beside its
handlers; ``tests/unit/test_request_rules.py`` checks that every rule names a real field of its
request message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mlflow_core.entrypoints.http.requests import ParsedRequest
from mlflow_core.errors import MlflowCoreError
from mlflow_core.validation.messages import invalid_value


class RuleFailed(Exception):
    """A check failed; ``message`` overrides the generic wording when given."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message)
        self.message = message


Check = Callable[[Any], None]


def required(value: Any) -> None:
    # Absent string fields read as "" once parsed, so MLflow treats "" as missing too.
    if value is None or value == "":
        raise RuleFailed()


def string(value: Any) -> None:
    if not isinstance(value, str):
        raise RuleFailed()


def intlike(value: Any) -> None:
    # MLflow accepts anything int() accepts ("5", 5.5, True); int() refusing the type (a list,
    # null) or overflowing on it (Infinity) escapes MLflow's check as a 500, and is an invalid
    # value here.
    try:
        int(value)
    except (ValueError, TypeError, OverflowError):
        raise RuleFailed() from None


def floatlike(value: Any) -> None:
    # As intlike: MLflow lets float()'s TypeError (null, a list) escape as a 500.
    try:
        float(value)
    except (ValueError, TypeError):
        raise RuleFailed() from None


def boolean(value: Any) -> None:
    if not isinstance(value, bool):
        raise RuleFailed()


def array(value: Any) -> None:
    if not isinstance(value, list):
        raise RuleFailed()


def item_type_string(value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RuleFailed()


def at_most(limit: int) -> Check:
    """``lambda x: _assert_less_than_or_equal(int(x), limit)``."""

    def check(value: Any) -> None:
        try:
            number = int(value)
        except (ValueError, TypeError):
            raise RuleFailed() from None  # MLflow lets int() fail as a 500
        if number > limit:
            raise RuleFailed()

    return check


# The checks MLflow skips once protobuf has parsed the request (its _TYPE_VALIDATORS).
TYPE_CHECKS: frozenset[Check] = frozenset(
    {string, intlike, floatlike, boolean, array, item_type_string}
)

Rules = Mapping[str, tuple[Check, ...]]


def apply_rules(rules: Rules, request: ParsedRequest) -> None:
    raw = request.raw
    for field, checks in rules.items():
        if field not in raw and required not in checks:
            continue
        value = raw.get(field)
        if field == "run_id" and value is None and "run_uuid" in raw:
            value = raw.get("run_uuid")
        for check in checks:
            if check in TYPE_CHECKS and request.parsed_by_protobuf:
                continue
            try:
                check(value)
            except RuleFailed as failure:
                if failure.message:
                    message = failure.message
                elif check is required:
                    message = f"Missing value for required parameter '{field}'."
                else:
                    message = invalid_value(
                        field, value, f" Hint: Value was of type '{type(value).__name__}'."
                    )
                raise MlflowCoreError.invalid_parameter_value(
                    message + " See the API docs for more information about request parameters."
                ) from None
