"""Billable-metric expressions: a small formula language evaluated on one event.

A metric may carry an expression; at ingestion Billow evaluates it on each event and stores the
result in the event's ``properties[field_name]``, so aggregation then works on it.

Grammar (spaces, tabs and newlines may separate tokens)::

    expression := term (("+" | "-") term)*
    term       := factor (("*" | "/") factor)*
    factor     := "-"? primary
    primary    := NUMBER | STRING | variable | call | "(" expression ")"
    variable   := "event.code" | "event.timestamp" | "event.properties." NAME
    call       := FUNCTION "(" expression ("," expression)* ")"

    NUMBER   := digits ("." digits)?          e.g. 12, 0.5 (no exponent, no leading ".")
    STRING   := '...' | "..."                 no escapes; use the other quote to embed one
    NAME     := letter (letter | digit | "_")*
    FUNCTION := round | ceil | floor | concat  (also in UPPER case or Capitalised)

Functions: ``round(x[, digits])`` rounds half away from zero, ``ceil(x[, digits])`` towards
+infinity, ``floor(x[, digits])`` towards -infinity (digits may be negative: tens, hundreds);
``concat(a, b, ...)`` joins its arguments as text. Arithmetic is exact ``Decimal`` arithmetic
(division keeps 100 significant digits); property values that are numeric strings count as
numbers. Anything else (arithmetic on text, a missing property, division by zero) raises
:class:`ExpressionError`. The text is parsed by hand into an AST, never handed to ``eval``.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DecimalException,
)
from typing import Any, ClassVar

Value = Decimal | str

# Exact enough for any billing quantity; division results keep this many significant digits.
ARITHMETIC = Context(prec=100)
MAX_DEPTH = 64  # parentheses / calls nested deeper than this are refused
MAX_ROUNDING_DIGITS = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ExpressionError(ValueError):
    """An expression that cannot be parsed (``position`` = 0-based offset) or evaluated."""

    def __init__(self, message: str, position: int | None = None):
        super().__init__(message if position is None else f"{message} at position {position}")
        self.message = message
        self.position = position


# ---- values ----------------------------------------------------------------------------------

_NUMERIC_TEXT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


def to_value(raw: Any, what: str) -> Value:
    """An event value as an expression value: numbers and numeric strings become Decimals."""
    if isinstance(raw, bool):  # before int: bool is an int subclass
        return "true" if raw else "false"
    if isinstance(raw, str):
        return Decimal(raw) if _NUMERIC_TEXT.fullmatch(raw) else raw
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, float | Decimal):
        number = Decimal(repr(raw)) if isinstance(raw, float) else raw
        if number.is_finite():
            return number
    raise ExpressionError(f"{what} is not a number or a string")


def to_text(value: Value) -> str:
    """Text form used by concat: numbers in plain notation, never with an exponent."""
    return value if isinstance(value, str) else format(value, "f")


def _number(value: Value, what: str) -> Decimal:
    if isinstance(value, str):
        raise ExpressionError(f"{what} expects a number, got the text {value!r}")
    return value


def _timestamp(raw: Any) -> Decimal:
    if isinstance(raw, datetime):
        if raw.tzinfo is None:
            raise ExpressionError("event.timestamp must be timezone-aware")
        delta = raw - _EPOCH
        return Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds).scaleb(-6)
    value = to_value(raw, "event.timestamp")
    return _number(value, "event.timestamp")


class _Event:
    """Reads code, timestamp and properties from a mapping or from an object's attributes."""

    def __init__(self, event: Any):
        self._event = event

    def get(self, name: str) -> Any:
        if isinstance(self._event, Mapping):
            return self._event.get(name)
        return getattr(self._event, name, None)

    def property(self, name: str) -> Any:
        properties = self.get("properties") or {}
        if not isinstance(properties, Mapping):
            raise ExpressionError("event.properties must be an object")
        return properties.get(name)


# ---- syntax tree -----------------------------------------------------------------------------


class Node(ABC):
    @abstractmethod
    def evaluate(self, event: _Event) -> Value:
        """The node's value for one event."""


@dataclass(frozen=True)
class Number(Node):
    value: Decimal

    def evaluate(self, event: _Event) -> Value:
        return self.value

    def __str__(self) -> str:
        return format(self.value, "f")


@dataclass(frozen=True)
class Text(Node):
    value: str

    def evaluate(self, event: _Event) -> Value:
        return self.value

    def __str__(self) -> str:
        quote = '"' if "'" in self.value else "'"
        return f"{quote}{self.value}{quote}"


@dataclass(frozen=True)
class Code(Node):
    def evaluate(self, event: _Event) -> Value:
        code = event.get("code")
        if code is None:
            raise ExpressionError("event.code is missing")
        return str(code)

    def __str__(self) -> str:
        return "event.code"


@dataclass(frozen=True)
class Timestamp(Node):
    def evaluate(self, event: _Event) -> Value:
        raw = event.get("timestamp")
        if raw is None:
            raise ExpressionError("event.timestamp is missing")
        return _timestamp(raw)

    def __str__(self) -> str:
        return "event.timestamp"


@dataclass(frozen=True)
class Property(Node):
    name: str

    def evaluate(self, event: _Event) -> Value:
        raw = event.property(self.name)
        if raw is None:
            raise ExpressionError(f"event.properties.{self.name} is missing")
        return to_value(raw, f"event.properties.{self.name}")

    def __str__(self) -> str:
        return f"event.properties.{self.name}"


@dataclass(frozen=True)
class Negative(Node):
    operand: Node

    def evaluate(self, event: _Event) -> Value:
        return ARITHMETIC.minus(_number(self.operand.evaluate(event), "unary -"))

    def __str__(self) -> str:
        inner = str(self.operand)
        return f"-({inner})" if isinstance(self.operand, Negative) else f"-{inner}"


@dataclass(frozen=True)
class Binary(Node):
    operator: str
    left: Node
    right: Node

    OPERATIONS: ClassVar[dict[str, Any]] = {
        "+": ARITHMETIC.add,
        "-": ARITHMETIC.subtract,
        "*": ARITHMETIC.multiply,
        "/": ARITHMETIC.divide,
    }

    def evaluate(self, event: _Event) -> Value:
        left = _number(self.left.evaluate(event), self.operator)
        right = _number(self.right.evaluate(event), self.operator)
        if self.operator == "/" and right == 0:
            raise ExpressionError("division by zero")
        return self.OPERATIONS[self.operator](left, right)

    def __str__(self) -> str:
        return f"({self.left} {self.operator} {self.right})"


_ROUNDING_MODES = {"round": ROUND_HALF_UP, "ceil": ROUND_CEILING, "floor": ROUND_FLOOR}
# name -> (fewest, most) arguments; None = no upper bound
FUNCTIONS: dict[str, tuple[int, int | None]] = {"round": (1, 2), "ceil": (1, 2), "floor": (1, 2), "concat": (1, None)}


@dataclass(frozen=True)
class Call(Node):
    function: str
    arguments: tuple[Node, ...]

    def evaluate(self, event: _Event) -> Value:
        values = [argument.evaluate(event) for argument in self.arguments]
        if self.function == "concat":
            return "".join(to_text(value) for value in values)
        number = _number(values[0], self.function)
        digits = _digits(values[1], self.function) if len(values) > 1 else 0
        rounded = number.quantize(Decimal(1).scaleb(-digits), rounding=_ROUNDING_MODES[self.function], context=ARITHMETIC)
        # Negative digits leave an exponent (1E+1); bring the result back to plain units.
        return rounded.quantize(Decimal(1), context=ARITHMETIC) if digits < 0 else rounded

    def __str__(self) -> str:
        return f"{self.function}({', '.join(str(argument) for argument in self.arguments)})"


def _digits(value: Value, function: str) -> int:
    digits = _number(value, f"{function} digits")
    if digits != digits.to_integral_value():
        raise ExpressionError(f"{function} digits must be a whole number")
    if abs(digits) > MAX_ROUNDING_DIGITS:
        raise ExpressionError(f"{function} digits must be between -{MAX_ROUNDING_DIGITS} and {MAX_ROUNDING_DIGITS}")
    return int(digits)


# ---- tokenizer -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, name, op, end
    text: str
    position: int


_TOKEN = re.compile(
    r"(?P<space>\s+)"
    r"|(?P<number>[0-9]+(?:\.[0-9]+)?)"
    r"|(?P<string>'[^']*'|\"[^\"]*\")"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"
    r"|(?P<op>[-+*/(),])"
)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            if text[position] in "'\"":
                raise ExpressionError("unterminated string", position)
            raise ExpressionError(f"unexpected character {text[position]!r}", position)
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            tokens.append(Token(kind, match.group(), position))
        position = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


# ---- parser ----------------------------------------------------------------------------------

_PROPERTY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_VARIABLES: dict[str, Node] = {"event.code": Code(), "event.timestamp": Timestamp()}


def _function_name(spelling: str) -> str | None:
    """round, ROUND and Round are the same function; other spellings are not functions."""
    lower = spelling.lower()
    if lower in FUNCTIONS and spelling in (lower, lower.upper(), lower.capitalize()):
        return lower
    return None


class _Parser:
    def __init__(self, text: str):
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.current
        self.index += 1
        return token

    def accept(self, *ops: str) -> Token | None:
        if self.current.kind == "op" and self.current.text in ops:
            return self.advance()
        return None

    def expect(self, op: str) -> None:
        if self.accept(op) is None:
            raise self.unexpected(f"expected {op!r}")

    def unexpected(self, expected: str) -> ExpressionError:
        token = self.current
        found = "end of expression" if token.kind == "end" else repr(token.text)
        return ExpressionError(f"{expected}, found {found}", token.position)

    def parse(self) -> Node:
        if self.current.kind == "end":
            raise ExpressionError("empty expression", 0)
        node = self.expression()
        if self.current.kind != "end":
            raise self.unexpected("expected an operator")
        return node

    def expression(self) -> Node:
        node = self.term()
        while (operator := self.accept("+", "-")) is not None:
            node = Binary(operator.text, node, self.term())
        return node

    def term(self) -> Node:
        node = self.factor()
        while (operator := self.accept("*", "/")) is not None:
            node = Binary(operator.text, node, self.factor())
        return node

    def factor(self) -> Node:
        if self.accept("-") is not None:
            return Negative(self.primary())
        return self.primary()

    def primary(self) -> Node:
        token = self.current
        if token.kind == "number":
            self.advance()
            return Number(Decimal(token.text))
        if token.kind == "string":
            self.advance()
            return Text(token.text[1:-1])
        if token.kind == "name":
            self.advance()
            if self.accept("(") is not None:
                return self.nested(token, lambda: self.call(token))
            return _variable(token)
        if self.accept("(") is not None:
            node = self.nested(token, self.expression)
            self.expect(")")
            return node
        raise self.unexpected("expected a value")

    def nested(self, opening: Token, parse: Any) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"nested more than {MAX_DEPTH} levels deep", opening.position)
        node: Node = parse()
        self.depth -= 1
        return node

    def call(self, name: Token) -> Node:
        function = _function_name(name.text)
        if function is None:
            raise ExpressionError(f"unknown function {name.text!r}", name.position)
        arguments = [self.expression()]
        while self.accept(",") is not None:
            arguments.append(self.expression())
        self.expect(")")
        fewest, most = FUNCTIONS[function]
        if len(arguments) < fewest or (most is not None and len(arguments) > most):
            raise ExpressionError(f"{function} takes {fewest} to {most} arguments", name.position)
        return Call(function, tuple(arguments))


def _variable(token: Token) -> Node:
    if token.text in _VARIABLES:
        return _VARIABLES[token.text]
    prefix = "event.properties."
    name = token.text[len(prefix):]
    if token.text.startswith(prefix) and _PROPERTY_NAME.fullmatch(name):
        return Property(name)
    raise ExpressionError(
        f"unknown variable {token.text!r} (use event.code, event.timestamp or event.properties.<name>)",
        token.position,
    )


def _properties(node: Node) -> list[str]:
    names = [node.name] if isinstance(node, Property) else []
    for value in vars(node).values():
        for child in value if isinstance(value, tuple) else (value,):
            if isinstance(child, Node):
                names.extend(_properties(child))
    return names


# ---- public API ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expression:
    """A parsed expression, ready to evaluate on any number of events."""

    source: str
    root: Node

    @property
    def properties_used(self) -> tuple[str, ...]:
        """Names of the event properties the expression reads, in order of first use."""
        return tuple(dict.fromkeys(_properties(self.root)))

    def evaluate(self, event: Any) -> Value:
        """Value on ``event``: a mapping or object with ``code``, ``timestamp`` (epoch seconds
        or an aware datetime) and ``properties``."""
        try:
            return self.root.evaluate(_Event(event))
        except DecimalException as exc:
            raise ExpressionError(f"arithmetic error ({type(exc).__name__})") from None

    def __str__(self) -> str:
        """Canonical text: every binary operation parenthesised."""
        return str(self.root)


def parse(text: str) -> Expression:
    """Parse ``text``; raises :class:`ExpressionError` carrying the offending position."""
    return Expression(text, _Parser(text).parse())
