"""Currencies and their minor units, and the one place amounts are rounded."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

# ISO 4217 codes Lago accepts, with the number of decimals of their minor unit.
_ZERO_DECIMALS = {"BIF", "CLF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX",
                  "UYI", "VND", "VUV", "XAF", "XOF", "XPF"}
_THREE_DECIMALS = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"}
_TWO_DECIMALS = set("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BWP BYN BZD CAD CDF
CHF CNY COP CRC CVE CZK DKK DOP DZD EGP ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HRK
HTG HUF IDR ILS INR IRR JMD KES KGS KHR KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP
MRO MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR
SBD SCR SEK SGD SHP SLL SOS SRD STD SZL THB TJS TOP TRY TTD TWD TZS UAH USD UYU UZS WST XCD YER
ZAR ZMW
""".split())

CURRENCIES: dict[str, int] = {
    **{code: 2 for code in _TWO_DECIMALS},
    **{code: 0 for code in _ZERO_DECIMALS},
    **{code: 3 for code in _THREE_DECIMALS},
}

# Lago rounds fee amounts half away from zero ("round half up" on magnitudes).
FEE_ROUNDING = ROUND_HALF_UP


def is_currency(code: str) -> bool:
    return code in CURRENCIES


def exponent(currency: str) -> int:
    return CURRENCIES[currency]


def to_minor_units(amount: Decimal, currency: str, rounding: str = FEE_ROUNDING) -> int:
    """Major-unit amount -> integer minor units, rounded once with the named mode."""
    return int((amount * (Decimal(10) ** exponent(currency))).quantize(Decimal(1), rounding=rounding))


def from_minor_units(cents: int, currency: str) -> Decimal:
    return Decimal(cents) / (Decimal(10) ** exponent(currency))
