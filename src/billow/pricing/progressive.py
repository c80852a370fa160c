"""Progressive billing on lifetime usage, pure (lago-payments-wallets-alerts.md 5.1-5.4).

A subscription's lifetime usage is what was billed outside Billow (historical), what its usage
invoices billed (invoiced) and the usage of the current charges period (current). Within a
period, progressive invoices bill usage before the period ends: ``progressive_billed`` is the fees
of the latest one (their fees are cumulative over the period), so it counts as invoiced and no
longer as current (:class:`LifetimeUsage`).

:func:`crossings` names the usage thresholds a new progressive invoice is issued for, each with
the lifetime usage level it reaches (the key that makes a crossing invoiced once);
:func:`creditable_cents` is what a progressive invoice still gives to the next invoice of its
period; :func:`completion_ratios` is the ``usage_thresholds`` list of ``lifetime_usage``.
Amounts are minor units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from billow.pricing.credits import thresholds_crossed
from billow.pricing.proration import ARITHMETIC


@dataclass(frozen=True)
class Threshold:
    amount_cents: int
    recurring: bool


@dataclass(frozen=True)
class LifetimeUsage:
    historical_cents: int
    invoiced_usage_cents: int  # charge fees of the subscription's usage invoices (not progressive ones)
    progressive_billed_cents: int  # fees of the latest progressive invoice of the current period
    current_usage_cents: int  # the current period's usage, taxes excluded

    @property
    def invoiced_cents(self) -> int:
        return self.historical_cents + self.invoiced_usage_cents + self.progressive_billed_cents

    @property
    def current_cents(self) -> int:
        """Usage of the period not billed by a progressive invoice yet (negative if usage went down)."""
        return self.current_usage_cents - self.progressive_billed_cents

    @property
    def total_cents(self) -> int:
        return self.invoiced_cents + self.current_cents


@dataclass(frozen=True)
class Crossing:
    threshold: Threshold
    crossing_cents: int  # the lifetime usage level reached: a fixed threshold's amount, a multiple of the recurring one


def _split(thresholds: Sequence[Threshold]) -> tuple[list[int], int | None]:
    fixed = sorted(t.amount_cents for t in thresholds if not t.recurring)
    recurring = [t.amount_cents for t in thresholds if t.recurring]
    if len(recurring) > 1:
        raise ValueError("a plan has at most one recurring threshold")
    return fixed, (recurring[0] if recurring else None)


def crossings(thresholds: Sequence[Threshold], usage: LifetimeUsage) -> tuple[Crossing, ...]:
    """The thresholds passed now, fixed ones ascending, then the recurring one.

    Nothing is passed while the period's usage is below what its progressive invoices billed.
    The recurring threshold R is named by the first multiple of R above the invoiced usage: the
    next time it fires the invoiced usage has grown past that multiple.
    """
    if usage.current_cents < 0:
        return ()
    fixed, recurring = _split(thresholds)
    crossed = thresholds_crossed(usage.invoiced_cents, usage.total_cents, fixed, recurring)
    found = [Crossing(Threshold(amount, False), amount) for amount in crossed.fixed]
    if crossed.recurring:
        assert recurring is not None
        level = (usage.invoiced_cents // recurring + 1) * recurring
        found.append(Crossing(Threshold(recurring, True), level))
    return tuple(found)


def creditable_cents(fees_cents: int, coupons_cents: int, drawn_cents: int, credit_notes_cents: int) -> int:
    """What a progressive invoice gives the next invoice of its period: its fees less its coupons,
    what other invoices drew from it already and its credit notes' credit, never below 0."""
    return max(0, fees_cents - coupons_cents - drawn_cents - credit_notes_cents)


@dataclass(frozen=True)
class Completion:
    amount_cents: int
    completion_ratio: Decimal
    reached: bool


def completion_ratios(thresholds: Sequence[Threshold], total_cents: int) -> tuple[Completion, ...]:
    """Each fixed threshold, ascending: passed ones complete (1), the next one by how far lifetime
    usage went from the last passed one towards it, later ones 0; the recurring threshold last, at
    the largest fixed threshold plus its step, measured from the largest fixed one."""
    fixed, recurring = _split(thresholds)
    found = []
    last = 0
    pending = True
    for amount in fixed:
        if total_cents >= amount:
            found.append(Completion(amount, Decimal(1), True))
            last = amount
        elif pending:
            found.append(Completion(amount, ARITHMETIC.divide(Decimal(total_cents - last), Decimal(amount - last)),
                                    False))
            pending = False
        else:
            found.append(Completion(amount, Decimal(0), False))
    if recurring is not None:
        largest = fixed[-1] if fixed else 0
        if not pending:
            ratio = Decimal(0)
        else:
            ratio = ARITHMETIC.divide(Decimal((total_cents - largest) % recurring), Decimal(recurring))
        found.append(Completion(largest + recurring, ratio, False))
    return tuple(found)


__all__ = ["Completion", "Crossing", "LifetimeUsage", "Threshold", "completion_ratios", "creditable_cents",
           "crossings"]
