"""Plain rows: what a billing chunk builds instead of ORM objects for the rows it writes in bulk.

A chunk's invoices, periods and fees are never added to a session (:mod:`billow.invoices.batch`):
they are priced by the same functions as the one-by-one path's objects, attribute by attribute,
then written by :func:`billow.invoices.bulk.insert_all`. Building a mapped object sets each
attribute through SQLAlchemy's instrumentation (about a tenth of a chunk's CPU); a plain row keeps
them in its ``__dict__``, where :func:`billow.invoices.bulk.values` reads both alike. A plain row
reads as unset (``None``) nothing it was not given, as a new mapped object does before its flush.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import inspect

from billow.models import Fee, Invoice, InvoiceSubscription

_KEYS: dict[type, frozenset[str]] = {}


def _keys(model: type) -> frozenset[str]:
    """The column attributes of ``model``."""
    found = _KEYS.get(model)
    if found is None:
        found = _KEYS[model] = frozenset(prop.key for prop in inspect(model).column_attrs)
    return found


class Row:
    """Attributes named as the columns of :attr:`model`, whose row this stands for."""

    model: ClassVar[type]

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:  # only for what was never set
        if name not in _keys(self.model):
            raise AttributeError(name)
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.__dict__.get('id')}>"


class InvoiceRow(Row):
    model = Invoice


class LinkRow(Row):
    model = InvoiceSubscription


class FeeRow(Row):
    model = Fee


__all__ = ["FeeRow", "InvoiceRow", "LinkRow", "Row"]
