"""Running behind a transaction-mode connection pooler (PgBouncer ``pool_mode = transaction``).

psycopg 3 prepares a statement on the server after it has run it 5 times on a connection
(``prepare_threshold``). Behind a pooler in transaction mode, consecutive transactions of one
client connection land on different server connections, so a prepared statement named on one
is missing on the next ("prepared statement "_pg3_0" does not exist"), and PgBouncer before
1.21 cannot track them at all. With ``disable_prepared_statements()`` every PostgreSQL
connection this process opens, ours and MLflow's own store's (which serves the unported RPCs
in-process), sends plain statements. Nothing else we do needs a session: no ``SET``, no
advisory locks, no temporary tables, no LISTEN; every unit of work is one transaction.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


def _no_server_side_prepares(dbapi_connection: Any, _record: Any) -> None:
    # The async adapter wraps psycopg's connection; the sync driver hands it over directly.
    connection = getattr(dbapi_connection, "driver_connection", None) or dbapi_connection
    if hasattr(connection, "prepare_threshold"):
        connection.prepare_threshold = None


def disable_prepared_statements() -> None:
    """For every engine of this process (idempotent)."""
    if not sa.event.contains(sa.engine.Engine, "connect", _no_server_side_prepares):
        sa.event.listen(sa.engine.Engine, "connect", _no_server_side_prepares)
