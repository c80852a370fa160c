"""The billable-metric expression language: parsing, evaluation, errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Context, Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billow.pricing.expression import (
    Binary,
    Call,
    Code,
    ExpressionError,
    Negative,
    Node,
    Number,
    Property,
    Text,
    Timestamp,
    parse,
    to_text,
)

EVENT = {
    "code": "storage",
    "timestamp": 1_700_000_000,
    "properties": {
        "value": "10.4",
        "units": 2,
        "gb": 3.5,
        "name": "eu-west",
        "big": "12.345",
        "negative": "-7.5",
        "zero": 0,
        "flag": True,
        "off": False,
        "exp": "1e3",
        "nested": {"a": 1},
        "nan": float("nan"),
        "space": " 5",
        "arabic": "\u0663",
    },
}


HINT = " (use event.code, event.timestamp or event.properties.<name>)"


def evaluate(text: str, event: Any = None) -> Any:
    return parse(text).evaluate(EVENT if event is None else event)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # literals
        ("12", Decimal(12)),
        ("0.5", Decimal("0.5")),
        ("007.50", Decimal("7.50")),
        ("'text'", "text"),
        ('"double"', "double"),
        ("\"it's\"", "it's"),
        ("''", ""),
        # precedence and associativity
        ("1 + 2 * 3", Decimal(7)),
        ("(1 + 2) * 3", Decimal(9)),
        ("10 - 4 - 3", Decimal(3)),
        ("10 - (4 - 3)", Decimal(9)),
        ("12 / 2 / 3", Decimal(2)),
        ("12 / (2 / 3)", Decimal(18)),
        ("2 * 3 + 4 * 5", Decimal(26)),
        ("1 + 6 / 3 - 1", Decimal(2)),
        ("((2))", Decimal(2)),
        ("1/4", Decimal("0.25")),
        ("1 / 3 * 3", Decimal("0." + "9" * 100)),
        # unary minus
        ("-2", Decimal(-2)),
        ("-2 * 3", Decimal(-6)),
        ("2 * -3", Decimal(-6)),
        ("2 - -3", Decimal(5)),
        ("-(1 + 2)", Decimal(-3)),
        ("-(-(4))", Decimal(4)),
        # event attributes
        ("event.code", "storage"),
        ("event.timestamp", Decimal(1_700_000_000)),
        ("event.timestamp / 60", Decimal("28333333." + "3" * 92)),  # 100 significant digits
        ("event.properties.value * event.properties.units", Decimal("20.8")),
        ("event.properties.gb + 1", Decimal("4.5")),
        ("event.properties.name", "eu-west"),
        ("event.properties.negative", Decimal("-7.5")),
        ("event.properties.exp + 0", Decimal(1000)),
        ("event.properties.flag", "true"),
        ("event.properties.off", "false"),
        ("event.properties.space", " 5"),
        ("event.properties.arabic", "\u0663"),
        ("event.properties.zero", Decimal(0)),
        # round: half away from zero, optional digits (negative = tens, hundreds)
        ("round(event.properties.value * event.properties.units)", Decimal(21)),
        ("round(2.5)", Decimal(3)),
        ("round(-2.5)", Decimal(-3)),
        ("round(2.4)", Decimal(2)),
        ("round(12.345, 2)", Decimal("12.35")),
        ("round(event.properties.big, 1)", Decimal("12.3")),
        ("round(1250, -2)", Decimal(1300)),
        ("round(123.456, -1)", Decimal(120)),
        ("round(12.5, 0)", Decimal(13)),
        ("ROUND(1.5)", Decimal(2)),
        ("Round(1.5)", Decimal(2)),
        # ceil / floor
        ("ceil(12.3)", Decimal(13)),
        ("ceil(-12.3)", Decimal(-12)),
        ("ceil(12.351, 1)", Decimal("12.4")),
        ("ceil(123.456, -2)", Decimal(200)),
        ("CEIL(0.1)", Decimal(1)),
        ("floor(12.7)", Decimal(12)),
        ("floor(-12.3)", Decimal(-13)),
        ("floor(12.359, 2)", Decimal("12.35")),
        ("floor(199, -2)", Decimal(100)),
        ("Floor(0.9)", Decimal(0)),
        ("round(2.25, 1 + 0)", Decimal("2.3")),
        # concat
        ("concat('a', 'b')", "ab"),
        ("concat('only')", "only"),
        ("concat(event.code, '-', event.properties.name)", "storage-eu-west"),
        ("concat('v', 1.50)", "v1.50"),
        ("concat(round(1250, -2), '')", "1300"),
        ("concat('n', event.properties.exp)", "n1000"),
        ("CONCAT('x', 1 + 1)", "x2"),
        ("Concat(1, 2)", "12"),
        # whitespace
        ("  1\t+\n2  ", Decimal(3)),
    ],
)
def test_evaluate(text: str, expected: Any) -> None:
    result = evaluate(text)
    assert result == expected
    assert type(result) is type(expected)


def test_negative_rounding_gives_plain_units() -> None:
    # Not 1.3E+3: the value stays in plain units so it prints and stores as 1300.
    assert str(evaluate("round(1250, -2)")) == "1300"


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("", 0, "empty expression"),
        ("   ", 0, "empty expression"),
        ("1 +", 3, "expected a value, found end of expression"),
        ("1 2", 2, "expected an operator, found '2'"),
        ("* 2", 0, "expected a value, found '*'"),
        ("--1", 1, "expected a value, found '-'"),
        ("(1 + 2", 6, "expected ')', found end of expression"),
        ("1 + 2)", 5, "expected an operator, found ')'"),
        ("()", 1, "expected a value, found ')'"),
        ("1.", 1, "unexpected character '.'"),
        (".5", 0, "unexpected character '.'"),
        ("1e5", 1, "expected an operator, found 'e5'"),
        ("2 ^ 3", 2, "unexpected character '^'"),
        ("\u0663", 0, "unexpected character '\u0663'"),  # only ASCII digits make numbers
        ("'open", 0, "unterminated string"),
        ('1 + "open', 4, "unterminated string"),
        ("foo(1)", 0, "unknown function 'foo'"),
        ("rOuNd(1)", 0, "unknown function 'rOuNd'"),
        ("event.code(1)", 0, "unknown function 'event.code'"),
        ("sqrt(4)", 0, "unknown function 'sqrt'"),
        ("round", 0, "unknown variable 'round'" + HINT),
        ("units", 0, "unknown variable 'units'" + HINT),
        ("event.foo", 0, "unknown variable 'event.foo'" + HINT),
        ("event.properties", 0, "unknown variable 'event.properties'" + HINT),
        ("event.properties._x", 0, "unknown variable 'event.properties._x'" + HINT),
        ("event.properties.a.b", 0, "unknown variable 'event.properties.a.b'" + HINT),
        ("1 + event.Code", 4, "unknown variable 'event.Code'" + HINT),
        ("round()", 6, "expected a value, found ')'"),
        ("round(1, 2, 3)", 0, "round takes 1 to 2 arguments"),
        ("ceil(1,)", 7, "expected a value, found ')'"),
        ("concat('a' 'b')", 11, "expected ')', found \"'b'\""),
        ("(" * 65 + "1" + ")" * 65, 64, "nested more than 64 levels deep"),
        ("round(" * 65 + "1" + ")" * 65, 384, "nested more than 64 levels deep"),
    ],
)
def test_parse_errors(text: str, position: int, message: str) -> None:
    with pytest.raises(ExpressionError) as error:
        parse(text)
    assert error.value.position == position
    assert error.value.message == message
    assert str(error.value) == f"{message} at position {position}"


def test_nesting_up_to_the_limit_is_fine() -> None:
    assert evaluate("(" * 64 + "1" + ")" * 64) == Decimal(1)


@pytest.mark.parametrize(
    ("text", "event", "message"),
    [
        ("event.properties.missing", EVENT, "event.properties.missing is missing"),
        ("event.properties.x", {"properties": {"x": None}}, "event.properties.x is missing"),
        ("event.properties.x", {"code": "c"}, "event.properties.x is missing"),
        ("event.properties.x", {"properties": ["x"]}, "event.properties must be an object"),
        ("event.code", {"properties": {}}, "event.code is missing"),
        ("event.timestamp", {"code": "c"}, "event.timestamp is missing"),
        ("event.timestamp + 1", {"timestamp": "soon"}, "event.timestamp expects a number, got the text 'soon'"),
        ("event.timestamp", {"timestamp": datetime(2024, 1, 1)}, "event.timestamp must be timezone-aware"),
        ("event.properties.nested", EVENT, "event.properties.nested is not a number or a string"),
        ("event.properties.nan", EVENT, "event.properties.nan is not a number or a string"),
        ("1 / 0", EVENT, "division by zero"),
        ("1 / event.properties.zero", EVENT, "division by zero"),
        ("1 / (2 - 2)", EVENT, "division by zero"),
        ("'a' + 1", EVENT, "+ expects a number, got the text 'a'"),
        ("1 - event.code", EVENT, "- expects a number, got the text 'storage'"),
        ("2 * event.properties.name", EVENT, "* expects a number, got the text 'eu-west'"),
        ("'a' / 2", EVENT, "/ expects a number, got the text 'a'"),
        ("-event.code", EVENT, "unary - expects a number, got the text 'storage'"),
        ("round('a')", EVENT, "round expects a number, got the text 'a'"),
        ("ceil(1, 'x')", EVENT, "ceil digits expects a number, got the text 'x'"),
        ("floor(1, 0.5)", EVENT, "floor digits must be a whole number"),
        ("round(1, 101)", EVENT, "round digits must be between -100 and 100"),
        ("round(1, -101)", EVENT, "round digits must be between -100 and 100"),
        ("round(1" + "0" * 99 + ", 5)", EVENT, "arithmetic error (InvalidOperation)"),
        ("event.properties.huge * event.properties.huge", {"properties": {"huge": "9e999999"}},
         "arithmetic error (Overflow)"),
    ],
)
def test_evaluation_errors(text: str, event: Any, message: str) -> None:
    expression = parse(text)
    with pytest.raises(ExpressionError) as error:
        expression.evaluate(event)
    assert error.value.message == message
    assert error.value.position is None
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (1_700_000_000, Decimal(1_700_000_000)),
        ("1651240791.123", Decimal("1651240791.123")),
        (1651240791.5, Decimal("1651240791.5")),
        (Decimal("12.25"), Decimal("12.25")),
        (datetime(2024, 1, 1, tzinfo=UTC), Decimal(1_704_067_200)),
        (datetime(2024, 1, 1, 1, 0, 0, 250_000, tzinfo=timezone(timedelta(hours=1))), Decimal("1704067200.25")),
        (datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC), Decimal(-1)),
    ],
)
def test_timestamp_forms(timestamp: Any, expected: Decimal) -> None:
    assert evaluate("event.timestamp", {"timestamp": timestamp}) == expected


def test_event_may_be_an_object_with_attributes() -> None:
    @dataclass
    class StoredEvent:
        code: str
        timestamp: datetime
        properties: dict[str, Any]

    stored = StoredEvent("api_calls", datetime(2024, 1, 1, tzinfo=UTC), {"calls": "4"})
    assert evaluate("concat(event.code, ':', event.properties.calls * 2)", stored) == "api_calls:8"
    assert evaluate("event.timestamp", stored) == Decimal(1_704_067_200)
    with pytest.raises(ExpressionError, match="event.properties.calls is missing"):
        evaluate("event.properties.calls", object())


def test_properties_used() -> None:
    expression = parse("round(event.properties.b * -event.properties.a, 1) + concat(event.properties.b, event.code) / 1")
    assert expression.properties_used == ("b", "a")
    assert parse("event.timestamp + 1").properties_used == ()


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        ("1+2*3", "(1 + (2 * 3))"),
        ("-(-1)", "-(-1)"),
        ("-(1 - 2)", "-(1 - 2)"),
        ("ROUND(event.properties.a,2)", "round(event.properties.a, 2)"),
        ("concat(\"it's\", 'x', event.code, event.timestamp)", "concat(\"it's\", 'x', event.code, event.timestamp)"),
    ],
)
def test_canonical_text(text: str, printed: str) -> None:
    expression = parse(text)
    assert str(expression) == printed
    assert parse(printed).root == expression.root
    assert expression.source == text


def test_to_text() -> None:
    assert to_text(Decimal("1E+3")) == "1000"
    assert to_text(Decimal("0.0000001")) == "0.0000001"
    assert to_text("x") == "x"


# ---- properties --------------------------------------------------------------------------------

plain_decimals = st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**12), max_value=10**12, places=6)


@given(plain_decimals)
def test_a_printed_number_evaluates_to_itself(value: Decimal) -> None:
    assert parse(format(value, "f")).evaluate({}) == value


@given(plain_decimals, plain_decimals)
def test_addition_and_multiplication_commute(a: Decimal, b: Decimal) -> None:
    event = {"properties": {"a": str(a), "b": str(b)}}
    assert evaluate("event.properties.a + event.properties.b", event) == evaluate("event.properties.b + event.properties.a", event)
    assert evaluate("event.properties.a * event.properties.b", event) == Context(prec=100).multiply(a, b)


@given(plain_decimals, st.integers(min_value=-6, max_value=6))
def test_floor_le_round_le_ceil(value: Decimal, digits: int) -> None:
    event = {"properties": {"v": str(value), "d": digits}}
    low = evaluate("floor(event.properties.v, event.properties.d)", event)
    mid = evaluate("round(event.properties.v, event.properties.d)", event)
    high = evaluate("ceil(event.properties.v, event.properties.d)", event)
    assert low <= value <= high
    assert low <= mid <= high
    assert high - low in (0, Decimal(10) ** -digits)


names = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,8}", fullmatch=True)
leaves = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, min_value=0, max_value=10**6, places=3).map(
        lambda value: Number(value.copy_abs())
    ),
    st.text(alphabet=st.characters(blacklist_characters="'\"", blacklist_categories=("Cs",)), max_size=8).map(Text),
    st.text(alphabet="ab'c", max_size=5).map(Text),
    names.map(Property),
    st.just(Code()),
    st.just(Timestamp()),
)


def _trees(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return st.one_of(
        children.map(Negative),
        st.builds(Binary, st.sampled_from("+-*/"), children, children),
        st.builds(Call, st.sampled_from(["round", "ceil", "floor"]), st.lists(children, min_size=1, max_size=2).map(tuple)),
        st.builds(Call, st.just("concat"), st.lists(children, min_size=1, max_size=3).map(tuple)),
    )


@given(st.recursive(leaves, _trees, max_leaves=12))
def test_printing_then_parsing_gives_the_same_tree(tree: Node) -> None:
    assert parse(str(tree)).root == tree
