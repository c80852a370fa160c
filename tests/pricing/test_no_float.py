"""No float reaches a money path: the source has no float literal or float() call, and a float
handed to the money and pricing entry points is refused."""

from __future__ import annotations

import ast
import decimal
from decimal import Decimal
from pathlib import Path

import pytest

import billow
from billow.core.money import to_minor_units
from billow.pricing.charge_models import ChargeInputs, compute
from billow.pricing.properties import parse_properties

MONEY_PACKAGES = ("pricing", "usage", "events", "core/money.py")


def _sources() -> list[Path]:
    root = Path(billow.__file__).parent
    files: list[Path] = []
    for name in MONEY_PACKAGES:
        path = root / name
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


def node_line(node: ast.AST) -> int:
    return getattr(node, "lineno", 0)


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p).split("billow/")[-1])
def test_money_code_has_no_float(path: Path) -> None:
    text = path.read_text()
    exempt = {number for number, line in enumerate(text.splitlines(), 1) if line.endswith("# wire-number")}
    tree = ast.parse(text)
    offenders = [
        node.lineno for node in ast.walk(tree)
        if node_line(node) not in exempt and ((isinstance(node, ast.Constant) and isinstance(node.value, float))
        or (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("float", "round")))
    ]
    assert offenders == [], f"float or round() at lines {offenders}"


def test_the_trap_is_armed() -> None:
    with pytest.raises(decimal.FloatOperation):
        Decimal(0.1)


def test_a_float_amount_is_refused_by_rounding() -> None:
    with pytest.raises((decimal.FloatOperation, TypeError)):
        to_minor_units(0.1, "EUR")  # type: ignore[arg-type]


def test_a_float_unit_count_is_refused_by_the_charge_models() -> None:
    properties = parse_properties("standard", {"amount": "0.10"})
    with pytest.raises((decimal.FloatOperation, TypeError)):
        compute("standard", properties, ChargeInputs(0.5))  # type: ignore[arg-type]


CLOCK_CALLS = {"now", "utcnow", "today", "monotonic", "perf_counter"}  # the time module is barred by import


@pytest.mark.parametrize("path", sorted((Path(billow.__file__).parent / "pricing").rglob("*.py")),
                         ids=lambda p: p.name)
def test_pricing_reads_no_clock(path: Path) -> None:
    """The import contract keeps time/os/io out of billow.pricing; this keeps datetime.now out."""
    calls = [
        node.lineno for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CLOCK_CALLS
    ]
    assert calls == [], f"clock read at lines {calls}"
