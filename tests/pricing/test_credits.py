"""Progressive billing, credit notes and wallets (billow.pricing.credits): lago-semantics.md 6.6, 6.1, 7.

The worked examples of 6.6 and 7 are run end to end through compute_invoice in test_invoice.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billow.pricing.credits import (
    CreditNote,
    CreditNoteUse,
    CrossedThresholds,
    Wallet,
    WalletBucket,
    WalletUse,
    allocate_progressive_credit,
    apply_credit_notes,
    consume_wallets,
    thresholds_crossed,
    wallet_buckets,
    wallet_credits,
    wallet_order,
)
from billow.pricing.taxes import Fee, FeeKind

D = Decimal
T0 = datetime(2024, 1, 1, tzinfo=UTC)
CHARGE, SUB, ADD_ON = FeeKind.CHARGE, FeeKind.SUBSCRIPTION, FeeKind.ADD_ON


# ---- thresholds -------------------------------------------------------------------------------


@pytest.mark.parametrize(("invoiced", "total", "fixed", "recurring", "expected"), [
    # fixed T fires when invoiced < T <= total
    (0, 20_000, [20_000], None, CrossedThresholds((20_000,), False)),
    (0, 19_999, [20_000], None, CrossedThresholds((), False)),
    (20_000, 25_000, [20_000], None, CrossedThresholds((), False)),
    (10_000, 35_000, [30_000, 10_000, 20_000], None, CrossedThresholds((20_000, 30_000), False)),
    # below the largest fixed threshold, the recurring one needs total - largest >= R
    (0, 50_000, [20_000], 10_000, CrossedThresholds((20_000,), True)),
    (0, 29_999, [20_000], 10_000, CrossedThresholds((20_000,), False)),
    # past the largest: un-invoiced usage + (invoiced mod R) >= R
    (20_000, 29_999, [20_000], 10_000, CrossedThresholds((), False)),
    (20_000, 30_000, [20_000], 10_000, CrossedThresholds((), True)),
    (25_000, 30_000, [20_000], 10_000, CrossedThresholds((), True)),   # 5 000 + 5 000
    (25_000, 29_999, [20_000], 10_000, CrossedThresholds((), False)),
    # only a recurring threshold
    (0, 10_000, [], 10_000, CrossedThresholds((), True)),
    (0, 9_999, [], 10_000, CrossedThresholds((), False)),
    (30_000, 90_000, [20_000], None, CrossedThresholds((), False)),
    # usage below what was invoiced fires nothing
    (30_000, 20_000, [25_000], 1_000, CrossedThresholds((), False)),
])
def test_thresholds_crossed(invoiced: int, total: int, fixed: list[int], recurring: int | None,
                            expected: CrossedThresholds) -> None:
    crossed = thresholds_crossed(invoiced, total, fixed, recurring)
    assert crossed == expected
    assert bool(crossed) is bool(expected.fixed or expected.recurring)


def test_recurring_threshold_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        thresholds_crossed(0, 100, [], 0)


def charge(key: str, cents: int, progressive: int = 0) -> Fee:
    return Fee(key, CHARGE, cents, billable_metric_id=key, progressive_credit_cents=progressive)


@pytest.mark.parametrize(("credit", "fees", "shares", "applied", "excess"), [
    # the 6.6 example: 200 EUR billed progressively, 400 EUR of usage at period end
    (20_000, [charge("a", 40_000)], [20_000], 20_000, 0),
    # proportional in whole cents: 333.33 / 666.67, the larger remainder takes the cent
    (1_000, [charge("a", 1_000), charge("b", 2_000)], [333, 667], 1_000, 0),
    # equal remainders: the earlier fee takes the cent
    (1, [charge("a", 100), charge("b", 100)], [1, 0], 1, 0),
    (5, [charge("a", 1), charge("b", 1), charge("c", 1)], [1, 1, 1], 3, 2),
    # more credit than the fees bill: capped, the rest is for a credit note
    (5_000, [charge("a", 1_000), charge("b", 2_000)], [1_000, 2_000], 3_000, 2_000),
    # a share already there counts: only the billable rest takes more
    (500, [charge("a", 3_000, progressive=1_000)], [1_500], 500, 0),
    (700, [], [], 0, 700),
    (0, [charge("a", 100)], [0], 0, 0),
])
def test_allocate_progressive_credit(credit: int, fees: list[Fee], shares: list[int], applied: int,
                                     excess: int) -> None:
    allocation = allocate_progressive_credit(credit, fees)
    assert [fee.progressive_credit_cents for fee in allocation.fees] == shares
    assert [fee.key for fee in allocation.fees] == [fee.key for fee in fees]
    assert (allocation.applied_cents, allocation.excess_cents) == (applied, excess)


def test_progressive_credit_cannot_be_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        allocate_progressive_credit(-1, [charge("a", 100)])


# ---- credit notes -----------------------------------------------------------------------------


@pytest.mark.parametrize(("due", "expected"), [
    (1_200, [("a", 500, 0), ("b", 700, 300), ("c", 0, 300)]),
    (5_000, [("a", 500, 0), ("b", 1_000, 0), ("c", 300, 0)]),
    (0, [("a", 0, 500), ("b", 0, 1_000), ("c", 0, 300)]),
])
def test_credit_notes_are_consumed_oldest_first(due: int, expected: list[tuple[str, int, int]]) -> None:
    notes = [CreditNote("a", 500), CreditNote("b", 1_000), CreditNote("c", 300)]
    assert apply_credit_notes(notes, due) == tuple(CreditNoteUse(*use) for use in expected)


# ---- wallets ----------------------------------------------------------------------------------


def wallet(key: str, balance: int, priority: int = 1, day: int = 0, *, currency: str = "EUR",
           rate: str = "1", kinds: tuple[FeeKind, ...] = (), metrics: tuple[str, ...] = ()) -> Wallet:
    return Wallet(key, balance, D(rate), priority, T0 + timedelta(days=day), currency, kinds, metrics)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"priority": 0}, "priority"), ({"priority": 51}, "priority"), ({"rate": "0"}, "rate_amount"),
])
def test_wallet_rejects_impossible_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        wallet("w", 100, **kwargs)  # type: ignore[arg-type]


LINES = [(CHARGE, "m1", D("1000.4")), (CHARGE, "m2", D("500.3")), (CHARGE, "m1", D(10)),
         (SUB, "ignored", D(3000)), (ADD_ON, None, D(0))]


@pytest.mark.parametrize(("due", "first_cap"), [
    (4_511, D("3000.3")),   # 0.3 of rounding: the largest bucket takes it
    (4_513, D("3002.3")),   # up to one unit per bucket
    (4_514, D(3000)),       # more than that is not rounding
    (4_510, D(3000)),       # less due (credit notes): nothing to reconcile
])
def test_wallet_buckets(due: int, first_cap: Decimal) -> None:
    assert wallet_buckets(LINES, due) == (
        WalletBucket(SUB, None, first_cap), WalletBucket(CHARGE, "m1", D("1010.4")),
        WalletBucket(CHARGE, "m2", D("500.3")))


def test_no_bucket_without_amount() -> None:
    assert wallet_buckets([(ADD_ON, None, D(0))], 5) == ()


def test_wallet_order_by_priority_then_age_in_the_invoice_currency() -> None:
    wallets = [wallet("p2", 100, 2, 0), wallet("p1-new", 100, 1, 5), wallet("usd", 100, 1, 0, currency="USD"),
               wallet("empty", 0, 1, 0), wallet("p1-old", 100, 1, 1)]
    assert [w.key for w in wallet_order(wallets, "EUR")] == ["p1-old", "p1-new", "p2"]


@pytest.mark.parametrize(("kinds", "metrics", "bucket", "expected"), [
    ((), (), WalletBucket(SUB, None, D(1)), True),
    ((), (), WalletBucket(CHARGE, "a", D(1)), True),
    ((SUB,), (), WalletBucket(SUB, None, D(1)), True),
    ((SUB,), (), WalletBucket(CHARGE, "a", D(1)), False),
    ((), ("a",), WalletBucket(CHARGE, "a", D(1)), True),
    ((), ("a",), WalletBucket(CHARGE, "b", D(1)), False),
    ((), ("a",), WalletBucket(SUB, None, D(1)), False),
    ((ADD_ON,), ("a",), WalletBucket(ADD_ON, None, D(1)), True),   # a kind or a metric is enough
    ((ADD_ON,), ("a",), WalletBucket(CHARGE, "a", D(1)), True),
    ((ADD_ON,), ("a",), WalletBucket(CHARGE, "b", D(1)), False),
    ((CHARGE,), (), WalletBucket(CHARGE, "b", D(1)), True),
])
def test_wallet_pays(kinds: tuple[FeeKind, ...], metrics: tuple[str, ...], bucket: WalletBucket,
                     expected: bool) -> None:
    assert wallet("w", 100, kinds=kinds, metrics=metrics).pays(bucket) is expected


SUB_1200 = (WalletBucket(SUB, None, D(1200)),)
SPLIT = (WalletBucket(SUB, None, D("1000.7")), WalletBucket(CHARGE, "a", D("500.3")))


@pytest.mark.parametrize(("wallets", "buckets", "due", "expected"), [
    # priority first: the priority-1 wallet pays before the older priority-2 one
    ([wallet("w1", 1_000, 2, 0), wallet("w2", 500, 1, 3)], SUB_1200, 1_200,
     [("w2", 500, "5", 0), ("w1", 700, "7", 300)]),
    # the first wallet pays everything: the second pays nothing and is left out
    ([wallet("w1", 5_000), wallet("w2", 5_000, day=1)], SUB_1200, 1_200, [("w1", 1_200, "12", 3_800)]),
    # a restricted wallet pays its bucket only (500.3 -> 5.00); the next one pays the rest
    ([wallet("only-a", 10_000, metrics=("a",)), wallet("any", 10_000, 2)], SPLIT, 1_501,
     [("only-a", 500, "5", 9_500), ("any", 1_001, "10.01", 8_999)]),
    # a small wallet runs out in the first bucket and takes nothing from the next
    ([wallet("small", 300)], SPLIT, 1_501, [("small", 300, "3", 0)]),
    # credit notes already paid it all
    ([wallet("w", 5_000)], SUB_1200, 0, []),
    # the invoice remainder caps the wallets even when the buckets are larger
    ([wallet("w", 5_000)], SUB_1200, 800, [("w", 800, "8", 4_200)]),
    # one credit is worth 2 EUR
    ([wallet("w", 5_000, rate="2")], SUB_1200, 1_200, [("w", 1_200, "6", 3_800)]),
    ([wallet("usd", 5_000, currency="USD")], SUB_1200, 1_200, []),
])
def test_consume_wallets(wallets: list[Wallet], buckets: tuple[WalletBucket, ...], due: int,
                         expected: list[tuple[str, int, str, int]]) -> None:
    uses = consume_wallets(wallets, buckets, due, "EUR")
    assert uses == tuple(WalletUse(key, cents, D(credits), after) for key, cents, credits, after in expected)


@pytest.mark.parametrize(("cents", "rate", "currency", "expected"), [
    (1_772, "1", "EUR", D("17.72")),
    (1_772, "1", "JPY", D(1772)),           # 0 decimals: 1 772 yen
    (1_772, "1", "KWD", D("1.772")),        # 3 decimals: 1.772 dinar
    (1_772, "3", "KWD", D("0.59067")),      # 0.590666... kept with 5 decimals, half-up
    (100, "3", "EUR", D("0.33333")),
    (1, "0.00003", "EUR", D("333.33333")),
])
def test_wallet_credits(cents: int, rate: str, currency: str, expected: Decimal) -> None:
    assert wallet_credits(cents, D(rate), currency) == expected
