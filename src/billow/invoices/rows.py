"""Plain rows: what a billing chunk builds instead of ORM objects for the rows it writes in bulk.

A chunk's invoices, periods and fees are never added to a session (:mod:`billow.invoices.batch`):
they are priced by the same functions as the one-by-one path's objects, attribute by attribute,
then written by :func:`billow.invoices.bulk.insert_all`. Building a mapped object sets each
attribute through SQLAlchemy's instrumentation (about a tenth of a chunk's CPU); a plain row keeps
them in its ``__dict__``. A plain row starts with every column of its table at the default a
flush would give it (a new id, the clock's instant, an empty JSON list or object, the scalar
defaults, ``None``), then takes the values it is built with: every row of a table has the same
columns, in the table's order, which :mod:`billow.invoices.bulk` writes as they stand.
"""

from __future__ import annotations

from collections.abc import Callable
from inspect import signature
from typing import Any, ClassVar

from sqlalchemy import Table, inspect

from billow.models import Fee, Invoice, InvoiceSubscription

# Per mapped class: its table and, per column, (attribute key, column key, default maker).
Layout = tuple[Table, list[tuple[str, str, Callable[[], Any]]]]
_LAYOUT: dict[type, Layout] = {}
# Per mapped class: the constant defaults (a template copied for each row) and the others.
_BLANK: dict[type, tuple[dict[str, Any], list[tuple[str, Callable[[], Any]]]]] = {}


def _takes_nothing(function: Any) -> bool:
    if function is None:
        return False
    if function in (dict, list):
        return True
    try:
        signature(function).bind()
    except (TypeError, ValueError):
        return False
    return True


def _default(column: Any) -> Callable[[], Any]:
    default = column.default
    if default is None:
        return lambda: None
    if default.is_callable:
        bare = getattr(default.arg, "__wrapped__", None)  # a function of no argument SQLAlchemy wrapped
        return bare if _takes_nothing(bare) else lambda: default.arg(None)  # type: ignore[no-any-return]
    if default.is_scalar:
        value = default.arg
        return lambda: value
    raise TypeError(f"column {column.key}: a SQL default is not written in bulk")


def layout(cls: type) -> Layout:
    """The table of the mapped class ``cls`` and, per column in the table's order, its attribute
    key, its column key and what makes its default."""
    found = _LAYOUT.get(cls)
    if found is None:
        mapper = inspect(cls)
        columns = [(prop.key, prop.columns[0].key, _default(prop.columns[0])) for prop in mapper.column_attrs]
        found = _LAYOUT[cls] = (mapper.local_table, columns)  # type: ignore[assignment]
    return found  # type: ignore[return-value]


def _blank(cls: type) -> tuple[dict[str, Any], list[tuple[str, Callable[[], Any]]]]:
    found = _BLANK.get(cls)
    if found is None:
        template: dict[str, Any] = {}
        made: list[tuple[str, Callable[[], Any]]] = []
        for key, _column, _make in layout(cls)[1]:
            column = inspect(cls).column_attrs[key].columns[0]
            if column.default is not None and column.default.is_callable:
                made.append((key, _make))
                template[key] = None  # its place in the column order
            else:
                template[key] = _make()
        found = _BLANK[cls] = (template, made)
    return found


class Row:
    """Attributes named as the columns of :attr:`model`, whose row this stands for."""

    model: ClassVar[type]

    def __init__(self, **values: Any) -> None:
        template, made = _blank(self.model)
        state = self.__dict__
        state.update(template)
        for key, make in made:
            if key not in values:
                state[key] = make()
        state.update(values)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.__dict__.get('id')}>"


class InvoiceRow(Row):
    model = Invoice


class LinkRow(Row):
    model = InvoiceSubscription


class FeeRow(Row):
    model = Fee


__all__ = ["FeeRow", "InvoiceRow", "LinkRow", "Row", "layout"]
