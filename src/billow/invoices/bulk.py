"""New rows written with SQLAlchemy Core: objects built as the ORM builds them, never added to a
session, inserted with one multi-row statement per table (psycopg 3 pipelines executemany).

:func:`values` gives an object's row as a flush would write it: every attribute that was set,
and each column's default for the others (so every row of a table has the same keys).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table, insert, inspect
from sqlalchemy.orm import Session

_MISSING = object()
# Per mapped class: its table and, per column, (attribute key, column key, default maker).
_LAYOUT: dict[type, tuple[Table, list[tuple[str, str, Callable[[], Any]]]]] = {}


def _default(column: Any) -> Callable[[], Any]:
    default = column.default
    if default is None:
        return lambda: None
    if default.is_callable:
        return lambda: default.arg(None)
    if default.is_scalar:
        value = default.arg
        return lambda: value
    raise TypeError(f"column {column.key}: a SQL default is not written in bulk")


def _layout(cls: type) -> tuple[Table, list[tuple[str, str, Callable[[], Any]]]]:
    found = _LAYOUT.get(cls)
    if found is None:
        mapper = inspect(cls)
        columns = [(prop.key, prop.columns[0].key, _default(prop.columns[0])) for prop in mapper.column_attrs]
        found = _LAYOUT[cls] = (mapper.local_table, columns)  # type: ignore[assignment]
    return found  # type: ignore[return-value]


def values(obj: Any) -> dict[str, Any]:
    """The row ``obj`` stands for, with the defaults a flush would give what it leaves unset."""
    _table, columns = _layout(type(obj))
    state = obj.__dict__
    row = {}
    for key, column, default in columns:
        value = state.get(key, _MISSING)
        row[column] = default() if value is _MISSING else value
    return row


def insert_all(session: Session, objects: Sequence[Any]) -> None:
    """Insert ``objects`` (all of one mapped class) in this order, in the session's transaction."""
    if objects:
        table, _columns = _layout(type(objects[0]))
        # On the connection: Core's executemany, not the ORM's bulk insert (which rebuilds each row).
        session.connection().execute(insert(table), [values(obj) for obj in objects])


__all__ = ["insert_all", "values"]
