"""A canonical text for SQLite schema statements, so two schemas can be compared as text.

MLflow's migrations rebuild SQLite tables in alembic batch mode, which writes a table's
constraints in set-iteration order: the same migrations leave differently ordered (but
equivalent) ``CREATE TABLE`` text on every run. Columns keep their order; only the table-level
constraint items are sorted.
"""

from __future__ import annotations

_CONSTRAINT_STARTS = ("CONSTRAINT ", "PRIMARY KEY", "FOREIGN KEY", "UNIQUE", "CHECK")


def _split_top_level(body: str) -> list[str]:
    items: list[str] = []
    depth = 0
    quote: str | None = None
    start = 0
    for index, char in enumerate(body):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"`":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(body[start:index])
            start = index + 1
    items.append(body[start:])
    return [" ".join(item.split()) for item in items if item.strip()]


def canonical_statement(sql: str) -> str:
    """``sql`` with whitespace folded and, for a CREATE TABLE, its constraints sorted."""
    folded = " ".join(sql.split())
    if not folded.upper().startswith("CREATE TABLE"):
        return folded
    open_paren = folded.index("(")
    close_paren = folded.rindex(")")
    items = _split_top_level(folded[open_paren + 1 : close_paren])
    columns = [i for i in items if not i.upper().startswith(_CONSTRAINT_STARTS)]
    constraints = sorted(i for i in items if i.upper().startswith(_CONSTRAINT_STARTS))
    return f"{folded[:open_paren]}({', '.join(columns + constraints)}){folded[close_paren + 1 :]}"
