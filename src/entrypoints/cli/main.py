"""``mlflow-core``: the command line (server, endpoints, db)."""

from __future__ import annotations

import click

from mlflow_core.entrypoints.cli.db import db
from mlflow_core.entrypoints.cli.endpoints import endpoints
from mlflow_core.entrypoints.cli.server import server


@click.group()
@click.version_option(package_name="mlflow-core")
def cli() -> None:
    """A fast backend for MLflow's tracking server and stores."""


cli.add_command(server)
cli.add_command(endpoints)
cli.add_command(db)


def main() -> None:
    cli()
