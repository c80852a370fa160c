"""Credits against an invoice, pure: progressive billing, credit notes, wallets.

* Progressive billing (lago-semantics.md 6.6): :func:`thresholds_crossed` tells which usage
  thresholds fire; :func:`allocate_progressive_credit` spreads what progressive invoices already
  billed over the period-end invoice's charge fees and returns the part no fee can take.
* Credit notes (6.1 step 6): :func:`apply_credit_notes` consumes the available credit notes,
  oldest first, against the total including taxes.
* Wallets (7): :func:`wallet_buckets` splits what is left to pay per (fee kind, billable
  metric); :func:`consume_wallets` lets the wallets pay, by priority then age, each wallet only
  the buckets it may pay.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from billow.core.money import from_minor_units
from billow.pricing.proration import ARITHMETIC, round_cents
from billow.pricing.taxes import ZERO, Fee, FeeKind, decimal_sum

_CREDIT_PLACES = Decimal("0.00001")  # wallet credits are kept with 5 decimals

# ---- progressive billing ----------------------------------------------------------------------


@dataclass(frozen=True)
class CrossedThresholds:
    fixed: tuple[int, ...]  # the fixed thresholds that fire, ascending
    recurring: bool  # whether the recurring threshold fires

    def __bool__(self) -> bool:
        return bool(self.fixed) or self.recurring


def thresholds_crossed(invoiced_usage_cents: int, total_usage_cents: int,
                       fixed_thresholds: Iterable[int], recurring_threshold: int | None) -> CrossedThresholds:
    """Usage thresholds that fire now, on lifetime usage in minor units.

    ``invoiced_usage_cents`` is the lifetime usage already invoiced (including what progressive
    invoices billed), ``total_usage_cents`` that plus the usage not yet invoiced. A fixed
    threshold T fires when invoiced < T <= total. While invoiced usage is below the largest
    fixed threshold, the recurring one R fires when total - largest >= R; past it, when the
    un-invoiced usage plus (invoiced mod R) reaches R. Usage going down fires nothing.
    """
    if recurring_threshold is not None and recurring_threshold <= 0:
        raise ValueError("a recurring threshold must be positive")
    fixed = sorted(fixed_thresholds)
    if total_usage_cents < invoiced_usage_cents:
        return CrossedThresholds((), False)
    largest = fixed[-1] if fixed else 0
    if invoiced_usage_cents < largest:
        passed = tuple(t for t in fixed if invoiced_usage_cents < t <= total_usage_cents)
        recurring = recurring_threshold is not None and total_usage_cents - largest >= recurring_threshold
        return CrossedThresholds(passed, recurring)
    if recurring_threshold is None:
        return CrossedThresholds((), False)
    current = total_usage_cents - invoiced_usage_cents
    return CrossedThresholds((), current + invoiced_usage_cents % recurring_threshold >= recurring_threshold)


@dataclass(frozen=True)
class ProgressiveAllocation:
    fees: tuple[Fee, ...]  # the fees given, their progressive_credit_cents raised by their share
    applied_cents: int
    excess_cents: int  # more than the fees bill: for the caller to refund with a credit note


def allocate_progressive_credit(credit_cents: int, fees: Sequence[Fee]) -> ProgressiveAllocation:
    """Spread a progressive-billing credit over the matching charge fees of the period invoice.

    Each fee takes a whole-cent part proportional to what it still bills (largest remainders
    get the leftover cents, earlier fees first on ties) and never more than that.
    """
    if credit_cents < 0:
        raise ValueError("a progressive credit cannot be negative")
    room = [fee.billable_cents for fee in fees]
    total = sum(room)
    applied = min(credit_cents, total)
    if applied == total:
        parts = room
    else:
        exact = [divmod(applied * r, total) for r in room]
        parts = [quotient for quotient, _ in exact]
        by_remainder = sorted(range(len(fees)), key=lambda i: -exact[i][1])
        for i in by_remainder[: applied - sum(parts)]:
            parts[i] += 1
    shared = tuple(replace(fee, progressive_credit_cents=fee.progressive_credit_cents + part)
                   for fee, part in zip(fees, parts, strict=True))
    return ProgressiveAllocation(shared, applied, credit_cents - applied)


# ---- credit notes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CreditNote:
    """A credit note of the customer with a balance left to consume."""

    key: str
    balance_cents: int


@dataclass(frozen=True)
class CreditNoteUse:
    key: str
    amount_cents: int
    balance_cents_after: int


def apply_credit_notes(credit_notes: Sequence[CreditNote], due_cents: int) -> tuple[CreditNoteUse, ...]:
    """Consume the credit notes in the order given (oldest first) against ``due_cents``."""
    uses = []
    for note in credit_notes:
        amount = max(0, min(note.balance_cents, due_cents))
        due_cents -= amount
        uses.append(CreditNoteUse(note.key, amount, note.balance_cents - amount))
    return tuple(uses)


# ---- wallets ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wallet:
    """An active prepaid-credit wallet. ``rate_amount`` is the value of 1 credit in major units.

    Empty ``fee_kinds`` and ``billable_metric_ids`` mean the wallet pays anything; otherwise it
    pays the fees of those kinds and the charge fees of those metrics.
    """

    key: str
    balance_cents: int
    rate_amount: Decimal
    priority: int
    created_at: datetime
    currency: str
    fee_kinds: tuple[FeeKind, ...] = ()
    billable_metric_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.priority <= 50:
            raise ValueError(f"wallet {self.key}: priority is between 1 and 50")
        if self.rate_amount <= 0:
            raise ValueError(f"wallet {self.key}: rate_amount must be positive")

    def pays(self, bucket: WalletBucket) -> bool:
        if not self.fee_kinds and not self.billable_metric_ids:
            return True
        if bucket.kind in self.fee_kinds:
            return True
        return bucket.kind is FeeKind.CHARGE and bucket.billable_metric_id in self.billable_metric_ids


@dataclass(frozen=True)
class WalletBucket:
    kind: FeeKind
    billable_metric_id: str | None  # charge fees only
    cap_cents: Decimal  # fee subtotals + their unrounded taxes


@dataclass(frozen=True)
class WalletUse:
    key: str
    amount_cents: int
    credits: Decimal  # amount in major units / rate, 5 decimals
    balance_cents_after: int


def wallet_buckets(lines: Iterable[tuple[FeeKind, str | None, Decimal]], due_cents: int) -> tuple[WalletBucket, ...]:
    """Group fees into buckets per (kind, billable metric of a charge), largest first.

    ``lines`` are (fee kind, billable metric id, fee subtotal + unrounded fee taxes). When the
    amount due exceeds the buckets by rounding only (at most one unit per bucket), the largest
    bucket takes the gap.
    """
    caps: dict[tuple[FeeKind, str | None], Decimal] = {}
    for kind, metric, cap in lines:
        if cap > 0:
            key = (kind, metric if kind is FeeKind.CHARGE else None)
            caps[key] = ARITHMETIC.add(caps.get(key, ZERO), cap)
    buckets = [WalletBucket(kind, metric, cap)
               for (kind, metric), cap in sorted(caps.items(), key=lambda item: -item[1])]
    gap = ARITHMETIC.subtract(Decimal(due_cents), decimal_sum(b.cap_cents for b in buckets))
    if buckets and 0 < gap <= len(buckets):
        buckets[0] = replace(buckets[0], cap_cents=ARITHMETIC.add(buckets[0].cap_cents, gap))
    return tuple(buckets)


def wallet_order(wallets: Iterable[Wallet], currency: str) -> list[Wallet]:
    """Wallets that can pay: invoice currency, positive balance; priority then oldest first."""
    usable = [w for w in wallets if w.currency == currency and w.balance_cents > 0]
    return sorted(usable, key=lambda w: (w.priority, w.created_at))


def wallet_credits(amount_cents: int, rate_amount: Decimal, currency: str) -> Decimal:
    """Credits worth ``amount_cents``: the amount in major units / the rate, 5 decimals."""
    credits = ARITHMETIC.divide(from_minor_units(amount_cents, currency), rate_amount)
    return credits.quantize(_CREDIT_PLACES, rounding=ROUND_HALF_UP)


def consume_wallets(wallets: Iterable[Wallet], buckets: Sequence[WalletBucket], due_cents: int,
                    currency: str) -> tuple[WalletUse, ...]:
    """Let the wallets pay ``due_cents`` (what is left after credit notes).

    Each wallet, in :func:`wallet_order`, takes from every bucket it may pay the least of the
    bucket's rest, its own balance left and the invoice's rest; its total is rounded half-up
    to whole minor units. Wallets that pay nothing are left out.
    """
    rest = [bucket.cap_cents for bucket in buckets]
    uses = []
    for wallet in wallet_order(wallets, currency):
        used = ZERO
        for i, bucket in enumerate(buckets):
            if rest[i] > 0 and wallet.pays(bucket):
                take = min(rest[i], Decimal(wallet.balance_cents) - used, Decimal(due_cents) - used)
                take = max(take, ZERO)
                rest[i] = ARITHMETIC.subtract(rest[i], take)
                used = ARITHMETIC.add(used, take)
        amount = round_cents(used)
        if amount > 0:
            due_cents -= amount
            credits = wallet_credits(amount, wallet.rate_amount, currency)
            uses.append(WalletUse(wallet.key, amount, credits, wallet.balance_cents - amount))
    return tuple(uses)


__all__ = [
    "CreditNote", "CreditNoteUse", "CrossedThresholds", "ProgressiveAllocation", "Wallet",
    "WalletBucket", "WalletUse", "allocate_progressive_credit", "apply_credit_notes",
    "consume_wallets", "thresholds_crossed", "wallet_buckets", "wallet_credits", "wallet_order",
]
