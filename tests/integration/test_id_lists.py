"""``in_list`` / ``in_pairs``: the same rows on every database, whatever the values hold."""

from __future__ import annotations

import sqlalchemy as sa

from mlflow_core.adapters.sql.database import normalized_url
from mlflow_core.adapters.sql.id_lists import in_list, in_pairs, list_value, pair_values

_ODD = ["plain", 'quo"te', "back\\slash", "com,ma", "{brace}", "NULL", "", " spaced ", "ünï"]
_metadata = sa.MetaData()
_items = sa.Table(
    "items",
    _metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
)


def test_in_list_and_in_pairs_select_exactly_the_values_bound(empty_database: str) -> None:
    engine = sa.create_engine(normalized_url(empty_database))
    dialect = engine.dialect.name
    _metadata.create_all(engine)
    rows = [{"name": name, "number": n} for name in _ODD for n in (1, 2)]
    with engine.begin() as conn:
        conn.execute(sa.insert(_items), rows)
        by_name = sa.select(_items.c.name, _items.c.number).where(
            in_list(_items.c.name, "names", dialect)
        )
        wanted = _ODD[1:6]
        found = conn.execute(by_name, {"names": list_value(wanted, dialect)}).all()
        assert sorted(found) == sorted((name, n) for name in wanted for n in (1, 2))
        assert conn.execute(by_name, {"names": list_value(["absent"], dialect)}).all() == []

        by_pair = sa.select(_items.c.name, _items.c.number).where(
            in_pairs(_items.c.name, _items.c.number, "pairs", dialect)
        )
        pairs = [('quo"te', 2), ("back\\slash", 1), ("", 2), ("absent", 1)]
        found = conn.execute(by_pair, pair_values("pairs", pairs, dialect)).all()
        assert sorted(found) == sorted(pairs[:3])
    engine.dispose()
