"""The one error type of mlflow-core, carrying MLflow's error codes.

Every failure a client can cause is an ``MlflowCoreError`` with one of MLflow's ``ErrorCode``
names (``databricks.proto``). The HTTP status, ``sqlstate`` and ``error_class`` MLflow derives
from the code are derived here too, in one place, so every entrypoint answers alike.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """The subset of ``databricks.proto``'s ``ErrorCode`` that MLflow's servers answer with."""

    INTERNAL_ERROR = "INTERNAL_ERROR"
    TEMPORARILY_UNAVAILABLE = "TEMPORARILY_UNAVAILABLE"
    BAD_REQUEST = "BAD_REQUEST"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    CANCELLED = "CANCELLED"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    ABORTED = "ABORTED"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
    ENDPOINT_NOT_FOUND = "ENDPOINT_NOT_FOUND"
    INVALID_STATE = "INVALID_STATE"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    FEATURE_DISABLED = "FEATURE_DISABLED"
    CUSTOMER_UNAUTHORIZED = "CUSTOMER_UNAUTHORIZED"
    REQUEST_LIMIT_EXCEEDED = "REQUEST_LIMIT_EXCEEDED"
    RESOURCE_CONFLICT = "RESOURCE_CONFLICT"
    NOT_IMPLEMENTED = "NOT_IMPLEMENTED"
    DATA_LOSS = "DATA_LOSS"
    RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
    RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"


# mlflow/exceptions.py: ERROR_CODE_TO_HTTP_STATUS; anything unlisted is a 500.
_HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.INVALID_STATE: 500,
    ErrorCode.DATA_LOSS: 500,
    ErrorCode.NOT_IMPLEMENTED: 501,
    ErrorCode.TEMPORARILY_UNAVAILABLE: 503,
    ErrorCode.DEADLINE_EXCEEDED: 504,
    ErrorCode.REQUEST_LIMIT_EXCEEDED: 429,
    ErrorCode.CANCELLED: 499,
    ErrorCode.RESOURCE_EXHAUSTED: 429,
    ErrorCode.ABORTED: 409,
    ErrorCode.RESOURCE_CONFLICT: 409,
    ErrorCode.ALREADY_EXISTS: 409,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.ENDPOINT_NOT_FOUND: 404,
    ErrorCode.RESOURCE_DOES_NOT_EXIST: 404,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.CUSTOMER_UNAUTHORIZED: 401,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.RESOURCE_ALREADY_EXISTS: 400,
    ErrorCode.INVALID_PARAMETER_VALUE: 400,
}

# mlflow/error_classification.py: the client-side classification MlflowException applies.
_ERROR_CLASS: dict[ErrorCode, str] = {
    ErrorCode.BAD_REQUEST: "INVALID_PARAMETER_VALUE",
    ErrorCode.CUSTOMER_UNAUTHORIZED: "PERMISSION_DENIED",
    ErrorCode.ENDPOINT_NOT_FOUND: "RESOURCE_NOT_FOUND",
    ErrorCode.FEATURE_DISABLED: "FEATURE_DISABLED",
    ErrorCode.INTERNAL_ERROR: "CLIENT_INTERNAL_ERROR",
    ErrorCode.INVALID_PARAMETER_VALUE: "INVALID_PARAMETER_VALUE",
    ErrorCode.INVALID_STATE: "CLIENT_INTERNAL_ERROR",
    ErrorCode.NOT_FOUND: "RESOURCE_NOT_FOUND",
    ErrorCode.PERMISSION_DENIED: "PERMISSION_DENIED",
    ErrorCode.RESOURCE_ALREADY_EXISTS: "RESOURCE_ALREADY_EXISTS",
    ErrorCode.RESOURCE_DOES_NOT_EXIST: "RESOURCE_NOT_FOUND",
    ErrorCode.TEMPORARILY_UNAVAILABLE: "CLIENT_INTERNAL_ERROR",
}
_SQLSTATE_INVALID_PARAMETER = "KAM00"
_SQLSTATE_INTERNAL = "XXM00"
_SQLSTATE: dict[ErrorCode, str] = {
    ErrorCode.BAD_REQUEST: _SQLSTATE_INVALID_PARAMETER,
    ErrorCode.CUSTOMER_UNAUTHORIZED: _SQLSTATE_INVALID_PARAMETER,
    ErrorCode.ENDPOINT_NOT_FOUND: _SQLSTATE_INVALID_PARAMETER,
    ErrorCode.FEATURE_DISABLED: _SQLSTATE_INVALID_PARAMETER,
    ErrorCode.INTERNAL_ERROR: _SQLSTATE_INTERNAL,
    ErrorCode.INVALID_PARAMETER_VALUE: _SQLSTATE_INVALID_PARAMETER,
    ErrorCode.INVALID_STATE: _SQLSTATE_INTERNAL,
    ErrorCode.NOT_FOUND: _SQLSTATE_INVALID_PARAMETER,
    ErrorCode.PERMISSION_DENIED: _SQLSTATE_INVALID_PARAMETER,
    ErrorCode.RESOURCE_ALREADY_EXISTS: _SQLSTATE_INVALID_PARAMETER,
    ErrorCode.RESOURCE_DOES_NOT_EXIST: _SQLSTATE_INVALID_PARAMETER,
    ErrorCode.TEMPORARILY_UNAVAILABLE: _SQLSTATE_INTERNAL,
}


class MlflowCoreError(Exception):
    """A failure with MLflow's error code and message, as MLflow's ``MlflowException`` has."""

    def __init__(self, message: str, error_code: ErrorCode = ErrorCode.INTERNAL_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS.get(self.error_code, 500)

    def to_dict(self) -> dict[str, Any]:
        """The JSON body MLflow's server answers with for this error."""
        body: dict[str, Any] = {"error_code": self.error_code.value, "message": self.message}
        if (sqlstate := _SQLSTATE.get(self.error_code)) is not None:
            body["sqlstate"] = sqlstate
        if (error_class := _ERROR_CLASS.get(self.error_code)) is not None:
            body["error_class"] = error_class
        return body

    def __repr__(self) -> str:
        return f"MlflowCoreError({self.message!r}, {self.error_code.value})"

    @classmethod
    def invalid_parameter_value(cls, message: str) -> MlflowCoreError:
        return cls(message, ErrorCode.INVALID_PARAMETER_VALUE)

    @classmethod
    def does_not_exist(cls, message: str) -> MlflowCoreError:
        return cls(message, ErrorCode.RESOURCE_DOES_NOT_EXIST)

    @classmethod
    def already_exists(cls, message: str) -> MlflowCoreError:
        return cls(message, ErrorCode.RESOURCE_ALREADY_EXISTS)

    @classmethod
    def invalid_state(cls, message: str) -> MlflowCoreError:
        return cls(message, ErrorCode.INVALID_STATE)
