"""Charge properties: one typed model per charge model, validated once at the API edge.

``parse_properties(charge_model, data)`` turns the ``properties`` object of a charge (or of a
charge filter) into a frozen model, or raises :class:`InvalidProperties` carrying Lago's error
codes. ``model.to_wire()`` gives back the exact JSON Lago stores and returns, which is what the
database keeps; the pricing engine parses that JSON again and so only ever sees valid values.

Wire rules (Lago's, with two documented widenings):

* Amounts, rates and other prices are decimal strings >= 0 in major units. JSON numbers are
  accepted too (Lago takes strings only) and are returned as strings.
* Integer fields (``package_size``, ``free_units``, ``free_units_per_events``) must be JSON
  integers.
* Ranges start at 0; each next ``from_value`` is the previous ``to_value + 1`` (classic, both
  bounds inclusive) or, for graduated and volume ranges, the previous ``to_value`` itself
  (adjacent, decimal-friendly; Lago's catalog style). One style per list. Only the last
  ``to_value`` is null, and every other ``to_value`` is above its ``from_value``.
* Keys a model does not know are dropped. ``grouped_by`` is the legacy name of
  ``pricing_group_keys``; both are returned, as Lago does.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

# Codes raised by the field types below and translated per charge model in `parse_properties`.
_RANGES = "invalid_ranges"
_MISSING_RANGES = "missing_ranges"


class InvalidProperties(ValueError):
    """The properties break Lago's rules; ``codes`` are Lago's error codes, first seen first."""

    def __init__(self, codes: list[str]):
        super().__init__(", ".join(codes))
        self.codes = codes


def _fail(code: str) -> PydanticCustomError:
    return PydanticCustomError(code, code)


# ---- scalar field types ---------------------------------------------------------------------


def _to_decimal(value: Any, code: str) -> Decimal:
    if isinstance(value, bool):
        raise _fail(code)
    if isinstance(value, int | Decimal):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))  # the shortest text that reads back as this float
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise _fail(code) from None
    else:
        raise _fail(code)
    if not number.is_finite():
        raise _fail(code)
    return number


def _decimal_text(value: Decimal) -> str:
    return format(value, "f")


def _amount_parser(code: str, *, optional: bool) -> Any:
    def parse(value: Any) -> Decimal | None:
        if value is None:
            if optional:
                return None
            raise _fail(code)
        number = _to_decimal(value, code)
        if number < 0:
            raise _fail(code)
        return number.copy_abs() if number == 0 else number

    return BeforeValidator(parse)


def _integer_parser(code: str, *, minimum: int, optional: bool) -> Any:
    def parse(value: Any) -> int | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise _fail(code)
        return value

    return BeforeValidator(parse)


_AS_TEXT = PlainSerializer(_decimal_text, return_type=str)
_AS_OPTIONAL_TEXT = PlainSerializer(lambda v: None if v is None else _decimal_text(v), return_type=str | None)


def _amount(code: str) -> Any:
    """A required decimal >= 0, returned as a string; ``code`` names any problem with it."""
    return Annotated[Decimal, _amount_parser(code, optional=False), _AS_TEXT]


def _optional_amount(code: str) -> Any:
    return Annotated[Decimal | None, _amount_parser(code, optional=True), _AS_OPTIONAL_TEXT]


Amount = _amount("invalid_amount")
Rate = _amount("invalid_rate")
OptionalAmount = _optional_amount("invalid_amount")
FixedAmount = _optional_amount("invalid_fixed_amount")
FreeAmount = _optional_amount("invalid_free_units_per_total_aggregation")
PackageSize = Annotated[int, _integer_parser("invalid_package_size", minimum=1, optional=False)]
FreeUnits = Annotated[int, _integer_parser("invalid_free_units", minimum=0, optional=False)]
FreeEvents = Annotated[int | None, _integer_parser("invalid_free_units_per_events", minimum=1, optional=True)]


def _bound(value: Any) -> Decimal:
    number = _to_decimal(value, _RANGES)
    if number < 0:
        raise _fail(_RANGES)
    return number.copy_abs() if number == 0 else number


def _bound_json(value: Decimal | None) -> int | float | None:
    # Bounds are JSON numbers on Lago's wire: integers stay integers. Display only: every
    # computation reads bounds back through ``_bound`` from their shortest text form.
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)  # wire-number


Bound = Annotated[Decimal, BeforeValidator(_bound), PlainSerializer(_bound_json)]
OpenBound = Annotated[
    Decimal | None, BeforeValidator(lambda v: None if v is None else _bound(v)), PlainSerializer(_bound_json)
]


# ---- grouping keys ----------------------------------------------------------------------------


def _pricing_group_keys(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(key, str) and key for key in value):
        raise _fail("invalid_type")
    return tuple(value)


class PresentationGroupKey(BaseModel):
    """An event property fees are broken down by on invoices (display only, never priced)."""

    model_config = ConfigDict(frozen=True)

    value: str
    display_in_invoice: bool | None = None

    def to_wire(self) -> dict[str, Any]:
        if self.display_in_invoice is None:
            return {"value": self.value}
        return {"value": self.value, "options": {"display_in_invoice": self.display_in_invoice}}


_PRESENTATION = "invalid_presentation_group_keys"


def _presentation_key(item: Any) -> PresentationGroupKey:
    # Lago sends {"value": ..., "options": {"display_in_invoice": ...}}; a bare string is read as {"value": ...}.
    if isinstance(item, str):
        item = {"value": item}
    if not isinstance(item, dict) or not isinstance(item.get("value"), str) or not item["value"]:
        raise _fail(_PRESENTATION)
    options = item.get("options")
    if options is None:
        return PresentationGroupKey(value=item["value"])
    shown = options.get("display_in_invoice") if isinstance(options, dict) else None
    if not isinstance(options, dict) or (shown is not None and not isinstance(shown, bool)):
        raise _fail(_PRESENTATION)
    return PresentationGroupKey(value=item["value"], display_in_invoice=shown)


def _presentation_group_keys(value: Any) -> tuple[PresentationGroupKey, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > 2:
        raise _fail(_PRESENTATION)
    return tuple(_presentation_key(item) for item in value)


# ---- models -----------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _explicit_nulls(cls, data: Any) -> Any:
        """Present every declared key, so a missing one reaches its field's own check as null."""
        if not isinstance(data, dict):
            raise _fail("value_is_invalid")
        return {**{name: None for name in cls.model_fields}, **data}


class Properties(_Model):
    """Base of every charge model's properties."""

    charge_model: ClassVar[str]

    pricing_group_keys: Annotated[tuple[str, ...], BeforeValidator(_pricing_group_keys)]
    presentation_group_keys: Annotated[tuple[PresentationGroupKey, ...], BeforeValidator(_presentation_group_keys)]

    @model_validator(mode="before")
    @classmethod
    def _legacy_grouped_by(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("pricing_group_keys") and data.get("grouped_by"):
            return {**data, "pricing_group_keys": data["grouped_by"]}
        return data

    def to_wire(self) -> dict[str, Any]:
        """The JSON Lago stores and returns: unset optional keys left out."""
        skip = {"pricing_group_keys", "presentation_group_keys"}
        body = {key: value for key, value in self.model_dump(mode="json", exclude=skip).items() if value is not None}
        if self.pricing_group_keys:
            body["pricing_group_keys"] = list(self.pricing_group_keys)
            body["grouped_by"] = list(self.pricing_group_keys)
        if self.presentation_group_keys:
            body["presentation_group_keys"] = [key.to_wire() for key in self.presentation_group_keys]
        return body


class StandardProperties(Properties):
    charge_model: ClassVar[str] = "standard"

    amount: Amount


class PackageProperties(Properties):
    """``amount`` per started package of ``package_size`` units, after ``free_units``."""

    charge_model: ClassVar[str] = "package"

    amount: Amount
    package_size: PackageSize
    free_units: FreeUnits


class PercentageProperties(Properties):
    """``rate`` percent of the units, plus ``fixed_amount`` per event, after free units."""

    charge_model: ClassVar[str] = "percentage"

    rate: Rate
    fixed_amount: FixedAmount
    free_units_per_events: FreeEvents
    free_units_per_total_aggregation: FreeAmount
    per_transaction_min_amount: OptionalAmount
    per_transaction_max_amount: OptionalAmount

    @model_validator(mode="after")
    def _min_below_max(self) -> PercentageProperties:
        low, high = self.per_transaction_min_amount, self.per_transaction_max_amount
        if low is not None and high is not None and low > high:
            raise _fail("per_transaction_max_lower_than_per_transaction_min")
        return self


class Tier(_Model):
    """One range: ``from_value`` to ``to_value`` (null = no upper bound)."""

    from_value: Bound
    to_value: OpenBound


class PriceTier(Tier):
    per_unit_amount: Amount
    flat_amount: Amount


class PercentageTier(Tier):
    rate: Rate
    flat_amount: Amount


def _tier_list(value: Any) -> Any:
    if value is None or value == []:
        raise _fail(_MISSING_RANGES)
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise _fail(_RANGES)
    return tuple(value)


def tiers_are_adjacent(tiers: tuple[Tier, ...]) -> bool:
    """True when each tier starts where the previous one ends (0–0.1, 0.1–1, 1–∞)."""
    return len(tiers) >= 2 and all(t.from_value == p.to_value for p, t in zip(tiers, tiers[1:], strict=False))


def _check_bounds(tiers: tuple[Tier, ...], *, allow_adjacent: bool) -> None:
    adjacent = allow_adjacent and tiers_are_adjacent(tiers)
    step = Decimal(0) if adjacent else Decimal(1)
    expected_from = Decimal(0)
    for index, tier in enumerate(tiers):
        last = index == len(tiers) - 1
        if tier.from_value != expected_from:
            raise _fail(_RANGES)
        if last and tier.to_value is not None:
            raise _fail(_RANGES)
        if not last and (tier.to_value is None or tier.to_value <= tier.from_value):
            raise _fail(_RANGES)
        if tier.to_value is not None:
            expected_from = tier.to_value + step


class _RangeProperties(Properties):
    ranges_field: ClassVar[str]
    allow_adjacent: ClassVar[bool] = True

    @property
    def tiers(self) -> tuple[Tier, ...]:
        return getattr(self, self.ranges_field)  # type: ignore[no-any-return]

    @property
    def adjacent(self) -> bool:
        """Tier arithmetic mode: adjacent (``to`` of one is ``from`` of the next) or classic."""
        return self.allow_adjacent and tiers_are_adjacent(self.tiers)

    @model_validator(mode="after")
    def _bounds(self) -> _RangeProperties:
        _check_bounds(self.tiers, allow_adjacent=self.allow_adjacent)
        return self


class GraduatedProperties(_RangeProperties):
    """Each tier prices the units that fall in it, plus its flat amount once reached."""

    charge_model: ClassVar[str] = "graduated"
    ranges_field: ClassVar[str] = "graduated_ranges"

    graduated_ranges: Annotated[tuple[PriceTier, ...], BeforeValidator(_tier_list)]


class VolumeProperties(_RangeProperties):
    """All units are priced at the one tier the total falls in."""

    charge_model: ClassVar[str] = "volume"
    ranges_field: ClassVar[str] = "volume_ranges"

    volume_ranges: Annotated[tuple[PriceTier, ...], BeforeValidator(_tier_list)]


class GraduatedPercentageProperties(_RangeProperties):
    """Graduated tiers with a percentage ``rate`` instead of a unit price (classic bounds only)."""

    charge_model: ClassVar[str] = "graduated_percentage"
    ranges_field: ClassVar[str] = "graduated_percentage_ranges"
    allow_adjacent: ClassVar[bool] = False

    graduated_percentage_ranges: Annotated[tuple[PercentageTier, ...], BeforeValidator(_tier_list)]


class DynamicProperties(Properties):
    """No price: each event carries its own amount (``precise_total_amount_cents``)."""

    charge_model: ClassVar[str] = "dynamic"


AnyProperties = (
    StandardProperties
    | PackageProperties
    | PercentageProperties
    | GraduatedProperties
    | VolumeProperties
    | GraduatedPercentageProperties
    | DynamicProperties
)

MODELS: dict[str, type[Properties]] = {
    model.charge_model: model
    for model in (
        StandardProperties,
        GraduatedProperties,
        PackageProperties,
        PercentageProperties,
        VolumeProperties,
        GraduatedPercentageProperties,
        DynamicProperties,
    )
}
CHARGE_MODELS: tuple[str, ...] = tuple(MODELS)

_OPEN_TIER = {"from_value": 0, "to_value": None, "per_unit_amount": "0", "flat_amount": "0"}
_DEFAULTS: dict[str, dict[str, Any]] = {
    "standard": {"amount": "0"},
    "package": {"amount": "0", "package_size": 1, "free_units": 0},
    "percentage": {"rate": "0"},
    "graduated": {"graduated_ranges": [_OPEN_TIER]},
    "volume": {"volume_ranges": [_OPEN_TIER]},
    "graduated_percentage": {
        "graduated_percentage_ranges": [{"from_value": 0, "to_value": None, "rate": "0", "flat_amount": "0"}]
    },
    "dynamic": {},
}


def _model(charge_model: str) -> type[Properties]:
    try:
        return MODELS[charge_model]
    except KeyError:
        raise ValueError(f"unknown charge model {charge_model!r}") from None


def _code(model: type[Properties], error: Any) -> str:
    code = str(error["type"])
    if code == _RANGES and issubclass(model, _RangeProperties):
        return f"invalid_{model.ranges_field}"
    if code == _MISSING_RANGES and issubclass(model, _RangeProperties):
        return f"missing_{model.ranges_field}"
    return code if code in _CODES else "value_is_invalid"


_CODES = {
    "invalid_amount", "invalid_package_size", "invalid_free_units", "invalid_rate", "invalid_fixed_amount",
    "invalid_free_units_per_events", "invalid_free_units_per_total_aggregation", "invalid_type",
    "per_transaction_max_lower_than_per_transaction_min", _PRESENTATION, "value_is_invalid",
}  # fmt: skip


def parse_properties(charge_model: str, data: Any) -> AnyProperties:
    """Validate ``data`` as the properties of ``charge_model``.

    Raises :class:`InvalidProperties` with Lago's codes (``invalid_amount``,
    ``invalid_graduated_ranges``, ``missing_volume_ranges``, ...) and ``ValueError`` for an unknown
    charge model.
    """
    model = _model(charge_model)
    try:
        return model.model_validate(data)  # type: ignore[return-value]
    except ValidationError as exc:
        codes: list[str] = []
        for error in exc.errors():
            code = _code(model, error)
            if code not in codes:
                codes.append(code)
        raise InvalidProperties(codes) from None


def default_properties(charge_model: str) -> AnyProperties:
    """What Lago stores when a charge is created without properties."""
    _model(charge_model)
    return parse_properties(charge_model, _DEFAULTS[charge_model])
