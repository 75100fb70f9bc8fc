"""Offset page tokens, byte-compatible with MLflow's (base64 of ``{"offset": n}``).

MLflow calls the format unstable, but clients hold tokens across a server swap, so ours are
the same bytes and a malformed token is rejected with the same message. Where MLflow lets an
exception escape (its server then answers 500) we answer INVALID_PARAMETER_VALUE with the
exception's text: bad input is a client error.
"""

from __future__ import annotations

import base64
import binascii
import json

from mlflow_core.errors import MlflowCoreError


def encode_offset_token(offset: int) -> str:
    """``SearchUtils.create_page_token``: ``json.dumps`` spacing included (``{"offset": 10}``)."""
    return base64.b64encode(json.dumps({"offset": offset}).encode("utf-8")).decode("ascii")


def decode_offset_token(page_token: str | None) -> int:
    """0 for no token; MLflow's INVALID_PARAMETER_VALUE errors for a malformed one.

    Decoding is as lenient as MLflow's: base64 ignores characters outside its alphabet, JSON may
    be UTF-8/16/32, and the offset goes through ``int()`` (so ``"12"``, ``true`` and ``3.5`` pass
    and a negative offset comes back as is).
    """
    if not page_token:
        return 0
    try:
        decoded = base64.b64decode(page_token)
    except binascii.Error:
        raise _invalid("Invalid page token, could not base64-decode") from None
    except ValueError as exc:  # non-ASCII text: MLflow does not catch this one
        raise MlflowCoreError.invalid_parameter_value(str(exc)) from None
    try:
        parsed = json.loads(decoded)
    except ValueError:
        raise _invalid(f"Invalid page token, decoded value={decoded!r}") from None
    if not isinstance(parsed, dict):  # MLflow fails on `.get` here: a 500
        raise _invalid(f"'{type(parsed).__name__}' object has no attribute 'get'")
    offset = parsed.get("offset")
    if not offset:
        raise _invalid(f"Invalid page token, parsed value={parsed}")
    try:
        return int(offset)
    except ValueError:
        raise _invalid(f"Invalid page token, not stringable {offset}") from None
    except (TypeError, OverflowError) as exc:  # a list, an object, Infinity: a 500 in MLflow
        raise MlflowCoreError.invalid_parameter_value(str(exc)) from None


def _invalid(message: str) -> MlflowCoreError:
    return MlflowCoreError.invalid_parameter_value(message)
