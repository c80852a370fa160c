"""Every pricing test runs with Decimal's FloatOperation trap on: building a Decimal from a float,
or comparing one with a float, raises instead of silently going through binary floating point."""

from __future__ import annotations

import decimal
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def no_float_in_decimal_arithmetic() -> Iterator[None]:
    context = decimal.getcontext()
    trapped = context.traps[decimal.FloatOperation]
    context.traps[decimal.FloatOperation] = True
    try:
        yield
    finally:
        context.traps[decimal.FloatOperation] = trapped
