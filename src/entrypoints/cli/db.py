"""``mlflow-core db upgrade``: bring a database to the schema this release uses."""

from __future__ import annotations

import click

from mlflow_core.adapters.sql.schema import run_mlflow_migrations


@click.group()
def db() -> None:
    """Database schema commands."""


@db.command()
@click.argument("url")
def upgrade(url: str) -> None:
    """Run MLflow's migrations on the database at URL (take a backup first)."""
    run_mlflow_migrations(url)
    click.echo(f"{url}: schema is at MLflow's head revision")
