"""``mlflow-core db``: bring a database to MLflow's schema; add or remove the search indexes."""

from __future__ import annotations

import click

from mlflow_core.adapters.sql.schema import run_mlflow_migrations
from mlflow_core.adapters.sql.search_indexes import create_search_indexes, drop_search_indexes


@click.group()
def db() -> None:
    """Database schema commands."""


@db.command()
@click.argument("url")
def upgrade(url: str) -> None:
    """Run MLflow's migrations on the database at URL (take a backup first)."""
    run_mlflow_migrations(url)
    click.echo(f"{url}: schema is at MLflow's head revision")


@db.command("create-search-indexes")
@click.argument("url")
def create_search_indexes_command(url: str) -> None:
    """Add mlflow-core's run-search indexes to the PostgreSQL database at URL.

    Built concurrently (writes go on); MLflow's schema and alembic revision are unchanged and
    stock MLflow opens the database as before. Servers use them after a restart.
    """
    try:
        built = create_search_indexes(url)
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    click.echo(f"built {', '.join(built)}" if built else "the search indexes were all there")


@db.command("drop-search-indexes")
@click.argument("url")
def drop_search_indexes_command(url: str) -> None:
    """Remove mlflow-core's run-search indexes from the PostgreSQL database at URL."""
    try:
        dropped = drop_search_indexes(url)
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    click.echo(f"dropped {', '.join(dropped)}" if dropped else "there were no search indexes")
