"""New rows written with SQLAlchemy Core: objects built as the ORM builds them, never added to a
session, inserted together in the session's transaction.

:func:`values` gives an object's row as a flush would write it: every attribute that was set,
and each column's default for the others (so every row of a table has the same keys).
:func:`insert_rows` writes rows of one table: on PostgreSQL with one binary ``COPY`` (each value
through its column type's bind processor, as a statement would send it, then the dumper of the
column's type; the server reads one stream instead of planning and executing one ``INSERT`` a
row: about a third of its work on a billing chunk), elsewhere with Core's executemany (one
compiled statement).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import Any

import orjson
from psycopg.types.json import Jsonb
from sqlalchemy import JSON, Connection, Table, insert
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from billow.invoices.rows import Row, layout

_MISSING = object()
# Per (database, table, column keys): the COPY statement, the columns' types, their converters.
_COPY: dict[tuple[Any, Table, tuple[str, ...]], tuple[str, list[int], list[tuple[int, Callable[[Any], Any], bool]]]] = {}
# Per plain row class: what reads a row's values in the table's column order.
_GETTER: dict[type, Callable[[dict[str, Any]], tuple[Any, ...]]] = {}


def table_of(cls: type) -> Table:
    """The table the mapped class ``cls`` writes."""
    return layout(cls)[0]


def values(obj: Any, cls: type | None = None) -> dict[str, Any]:
    """The row ``obj`` stands for, with the defaults a flush would give what it leaves unset:
    ``obj`` an instance of the mapped class ``cls`` (its own class by default) or any object whose
    ``__dict__`` holds that class's attributes."""
    _table, columns = layout(cls or type(obj))
    state = obj.__dict__
    row = {}
    for key, column, default in columns:
        value = state.get(key, _MISSING)
        row[column] = default() if value is _MISSING else value
    return row


def _json_bytes(value: Any) -> bytes | str:
    """JSON text as a statement would send it (orjson writes it about ten times faster than
    ``json.dumps``; the server keeps the same ``jsonb`` either way). What orjson declines (an
    integer key, a number past 64 bits) goes through ``json.dumps``, as before."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value)


def _jsonb(value: Any) -> Jsonb:
    return Jsonb(value, _json_bytes)


# What makes a value what COPY writes, and whether ``None`` goes through it too.
_Converter = tuple[Callable[[Any], Any] | None, bool]


def _converter(dialect: Any, column: Any) -> _Converter:
    """The column type's bind processor (what a statement sends); for a JSON column, its JSON
    (``None`` included: JSON ``null``, as the type binds it unless ``none_as_null``)."""
    column_type = column.type
    impl = column_type.load_dialect_impl(dialect) if isinstance(column_type, TypeDecorator) else column_type
    plain = not isinstance(column_type, TypeDecorator) or not column_type._has_bind_processor
    if isinstance(impl, JSON) and plain:
        return _jsonb, not impl.none_as_null
    return column_type._cached_bind_processor(dialect), False


def _copy_plan(connection: Connection, table: Table, keys: tuple[str, ...]
               ) -> tuple[str, list[int], list[tuple[int, Callable[[Any], Any], bool]]]:
    """The binary ``COPY`` of these columns of ``table``: its statement, each column's type (as
    the server has it) and the converters of the columns that need one."""
    dialect = connection.dialect
    known = (connection.engine.url, table, keys)
    found = _COPY.get(known)
    if found is None:
        quote = dialect.identifier_preparer.quote
        names = [table.c[key].name for key in keys]
        statement = f"COPY {quote(table.name)} ({', '.join(quote(name) for name in names)}) FROM STDIN (FORMAT BINARY)"
        oids = dict(connection.exec_driver_sql(
            "SELECT attname, atttypid::int FROM pg_attribute WHERE attrelid = %(table)s::regclass AND attnum > 0 "
            "AND NOT attisdropped", {"table": quote(table.name)}).all())
        converters = [(index, convert, nulls) for index, (convert, nulls)
                      in enumerate(_converter(dialect, table.c[key]) for key in keys) if convert is not None]
        found = _COPY[known] = (statement, [oids[name] for name in names], converters)
    return found


def _copy(connection: Connection, table: Table, keys: tuple[str, ...], rows: Iterable[Sequence[Any]]) -> None:
    """``COPY`` ``rows`` (values of the columns ``keys``, in this order) into ``table``, in the
    binary format: each value dumped by the dumper of its column's type (no text to write or parse)."""
    statement, types, converted = _copy_plan(connection, table, keys)
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(statement) as copy:
            copy.set_types(types)
            write = copy.write_row
            for values in rows:
                row = list(values)
                for index, convert, nulls in converted:
                    value = row[index]
                    if value is not None or nulls:
                        row[index] = convert(value)
                write(row)
    finally:
        cursor.close()


def _copy_objects(connection: Connection, cls: type, objects: Sequence[Any]) -> None:
    """:func:`_copy` of objects of the mapped class ``cls``: each column's value as :func:`values`
    gives it, without building the row's dict. Plain rows hold every column already, in order."""
    table, columns = layout(cls)
    keys = tuple(column for _key, column, _default in columns)
    if isinstance(objects[0], Row):
        getter = _GETTER.get(cls)
        if getter is None:
            getter = _GETTER[cls] = itemgetter(*(key for key, _column, _default in columns))
        _copy(connection, table, keys, (getter(obj.__dict__) for obj in objects))
        return
    attributes = [(key, default) for key, _column, default in columns]

    def row(obj: Any) -> list[Any]:
        state = obj.__dict__
        return [default() if (value := state.get(key, _MISSING)) is _MISSING else value
                for key, default in attributes]

    _copy(connection, table, keys, map(row, objects))


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (each with the same keys: column keys of ``table``) in this order, in the
    session's transaction."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        keys = tuple(rows[0])
        _copy(connection, table, keys, ([row[key] for key in keys] for row in rows))
    else:  # Core's executemany, not the ORM's bulk insert (which rebuilds each row)
        connection.execute(insert(table), list(rows))


def insert_all(session: Session, objects: Sequence[Any]) -> None:
    """Insert ``objects`` (all of one mapped class, or plain rows of one: :mod:`billow.invoices.rows`)
    in this order, in the session's transaction."""
    if objects:
        first = objects[0]
        cls = first.model if isinstance(first, Row) else type(first)
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            _copy_objects(connection, cls, objects)
        else:
            insert_rows(session, layout(cls)[0], [values(obj, cls) for obj in objects])


__all__ = ["insert_all", "insert_rows", "table_of", "values"]
