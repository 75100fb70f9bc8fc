"""``mlflow-core server``'s protection flags: MLflow's security flags, our body limit, app names.

The security flags are ``mlflow server``'s (``mlflow/utils/cli_args.py``): same names, same
environment variables, same defaults, exported to the workers under the same names, so our
native routes (``http/security.py``) and MLflow's in-process application read one setting.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from mlflow_core.entrypoints import config
from mlflow_core.entrypoints.http.security import (
    ALLOWED_HOSTS_ENV,
    CORS_ALLOWED_ORIGINS_ENV,
    DISABLE_ENV,
    X_FRAME_OPTIONS_ENV,
)

F = TypeVar("F", bound=Callable[..., Any])

# The app ``mlflow-core`` registers under MLflow's ``mlflow.app`` entry points.
OWN_APP_NAME = "mlflow-core"
AUTH_APP_REFUSAL = (
    "mlflow-core server cannot run with --app-name {name}: the RPCs mlflow-core serves "
    "natively do not yet enforce the authentication and permission checks of MLflow's auth "
    "app, so they would be an unauthenticated side door next to an authenticated UI. "
    "Run `mlflow server --app-name {name}` for an authenticated server."
)
OTHER_APP_REFUSAL = (
    "mlflow-core server cannot run with --app-name {name}: the RPCs mlflow-core serves "
    "natively would bypass that application's middleware. Run `mlflow server --app-name "
    "{name}` instead."
)


def options(command: F) -> F:
    """Add the flags (outermost last, so ``--help`` lists them in this order)."""
    for option in reversed(
        [
            click.option("--allowed-hosts", envvar=ALLOWED_HOSTS_ENV, default=None),
            click.option("--cors-allowed-origins", envvar=CORS_ALLOWED_ORIGINS_ENV, default=None),
            click.option(
                "--disable-security-middleware", envvar=DISABLE_ENV, is_flag=True, default=False
            ),
            click.option("--x-frame-options", envvar=X_FRAME_OPTIONS_ENV, default="SAMEORIGIN"),
            click.option(
                "--max-request-body-size",
                envvar=config.MAX_REQUEST_BODY_SIZE,
                type=click.IntRange(min=1),
                default=config.DEFAULT_MAX_REQUEST_BODY_SIZE,
                show_default=True,
                help="Largest request body (bytes) a natively served RPC reads; larger ones "
                "are answered 413 before the body is read.",
            ),
            click.option("--app-name", default=None),
        ]
    ):
        command = option(command)
    return command


def check_app_name(app_name: str | None) -> None:
    """Refuse an application our native routes would bypass (MLflow's auth app above all)."""
    if app_name is None or app_name == OWN_APP_NAME:
        return
    message = AUTH_APP_REFUSAL if "auth" in app_name else OTHER_APP_REFUSAL
    click.echo(f"Error: {message.format(name=app_name)}", err=True)
    sys.exit(1)


def environment(
    allowed_hosts: str | None,
    cors_allowed_origins: str | None,
    disable_security_middleware: bool,
    x_frame_options: str | None,
    max_request_body_size: int,
) -> dict[str, str]:
    """The variables to export, as ``mlflow server`` exports its security flags."""
    env = {config.MAX_REQUEST_BODY_SIZE: str(max_request_body_size)}
    if disable_security_middleware:
        env[DISABLE_ENV] = "true"
        click.echo(
            "[MLflow] WARNING: Security middleware is DISABLED. "
            "Your MLflow server is vulnerable to various attacks.",
            err=True,
        )
        return env
    if allowed_hosts:
        env[ALLOWED_HOSTS_ENV] = allowed_hosts
        if allowed_hosts == "*":
            click.echo(
                "WARNING: Accepting ALL hosts. "
                "This may leave the server vulnerable to DNS rebinding attacks."
            )
    if cors_allowed_origins:
        env[CORS_ALLOWED_ORIGINS_ENV] = cors_allowed_origins
        if cors_allowed_origins == "*":
            click.echo(
                "WARNING: Allowing ALL origins for CORS. "
                "This allows ANY website to access your MLflow data. "
                "This configuration is only recommended for local development."
            )
    if x_frame_options:
        env[X_FRAME_OPTIONS_ENV] = x_frame_options
    return env
