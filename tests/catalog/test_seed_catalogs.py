"""The catalogs Billow's users start from, built through the official Python client and read
back identical: the four-plan AI platform of the operator's guide, and the per-token LLM template."""

from __future__ import annotations

from typing import Any

import httpx
from lago_python_client.models import BillableMetric, BillableMetricFilter, Charge, Plan

# (code, name, aggregation_type, field_name)
PLATFORM_METRICS = [
    ("api_calls", "API Calls", "count_agg", None),
    ("llm_api_calls", "LLM API Calls", "count_agg", None),
    ("llm_tokens", "LLM Token Usage", "sum_agg", "tokens"),
    ("chat_api_calls", "Chat API Calls", "count_agg", None),
    ("agent_invocations", "Agent Invocations", "count_agg", None),
    ("storage_gb_hours", "Storage Usage", "sum_agg", "gb_hours"),
]


def tiers(*ranges: tuple[int, int | None, str]) -> dict[str, Any]:
    return {
        "graduated_ranges": [
            {"from_value": low, "to_value": high, "per_unit_amount": price, "flat_amount": "0"}
            for low, high, price in ranges
        ]
    }


# Free allowances ("first 100 free") are graduated charges whose first tier costs nothing.
SERVICE_CHARGES = {
    "llm_tokens": ("graduated", tiers((0, 1_000_000, "0"), (1_000_001, 10_000_000, "0.000002"), (10_000_001, None, "0.000001"))),
    "chat_api_calls": ("package", {"amount": "10.00", "package_size": 1000, "free_units": 0}),
    "agent_invocations": ("graduated", tiers((0, 100, "0"), (101, None, "0.05"))),
    "storage_gb_hours": ("graduated", tiers((0, 100, "0"), (101, None, "0.10"))),
}

# code -> (name, interval, amount_cents, trial_period, [(metric, model, properties)])
PLATFORM_PLANS = {
    "trial": ("Trial", "weekly", 100, 7.0, [("api_calls", "graduated", tiers((0, 700, "0"), (701, None, "0.01")))]),
    "starter": ("Starter", "monthly", 1900, 0.0, [("llm_api_calls", "graduated", tiers((0, 1000, "0"), (1001, None, "0.001")))]),
    "professional": (
        "Professional",
        "monthly",
        4900,
        0.0,
        [("llm_api_calls", "graduated", tiers((0, 10_000, "0"), (10_001, None, "0.001")))]
        + [(metric, model, props) for metric, (model, props) in SERVICE_CHARGES.items()],
    ),
    "enterprise": (
        "Enterprise",
        "monthly",
        9900,
        0.0,
        [(metric, model, props) for metric, (model, props) in SERVICE_CHARGES.items()],
    ),
}


def _charges_by_metric(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {charge["billable_metric_code"]: charge for charge in plan["charges"]}


def test_ai_platform_catalog(lago, api: httpx.Client) -> None:
    metric_ids = {}
    for code, name, aggregation, field in PLATFORM_METRICS:
        created = lago.billable_metrics.create(
            BillableMetric(name=name, code=code, aggregation_type=aggregation, field_name=field)
        )
        metric_ids[code] = created.lago_id

    for code, (name, interval, amount, trial, charges) in PLATFORM_PLANS.items():
        lago.plans.create(
            Plan(
                name=name,
                code=code,
                interval=interval,
                amount_cents=amount,
                amount_currency="USD",
                trial_period=trial,
                pay_in_advance=True,
                charges=[
                    Charge(billable_metric_id=metric_ids[metric], charge_model=model, properties=props)
                    for metric, model, props in charges
                ],
            )
        )

    metrics = {m["code"]: m for m in api.get("billable_metrics").json()["billable_metrics"]}
    assert set(metrics) == {code for code, *_ in PLATFORM_METRICS}
    for code, name, aggregation, field in PLATFORM_METRICS:
        metric = metrics[code]
        assert (metric["name"], metric["aggregation_type"], metric["field_name"]) == (name, aggregation, field)
        assert metric["lago_id"] == metric_ids[code]
        assert metric["filters"] == []

    plans = {p["code"]: p for p in api.get("plans").json()["plans"]}
    assert set(plans) == set(PLATFORM_PLANS)
    for code, (name, interval, amount, trial, charges) in PLATFORM_PLANS.items():
        plan = api.get(f"plans/{code}").json()["plan"]
        assert plan == plans[code]
        assert (plan["name"], plan["interval"], plan["amount_cents"], plan["amount_currency"]) == (name, interval, amount, "USD")
        assert plan["trial_period"] == trial
        assert plan["pay_in_advance"] is True
        read = _charges_by_metric(plan)
        assert set(read) == {metric for metric, _, _ in charges}
        for metric, model, props in charges:
            charge = read[metric]
            assert charge["lago_billable_metric_id"] == metric_ids[metric]
            assert charge["charge_model"] == model
            assert {k: v for k, v in charge["properties"].items() if k in props} == props
            assert charge["pay_in_advance"] is False
            assert charge["filters"] == []

    # The client reads the same catalog.
    professional = lago.plans.find("professional")
    assert professional.amount_cents == 4900
    llm = next(c for c in professional.charges.__root__ if c.billable_metric_code == "llm_api_calls")
    assert llm.properties["graduated_ranges"][1] == {"from_value": 10_001, "to_value": None, "per_unit_amount": "0.001", "flat_amount": "0"}


TOKEN_PRICES = {("8k", "input"): "0.03", ("8k", "output"): "0.06", ("32k", "input"): "0.06", ("32k", "output"): "0.12"}


def test_llm_token_template(lago, api: httpx.Client) -> None:
    metric = lago.billable_metrics.create(
        BillableMetric(
            name="AI Tokens",
            code="ai_tokens",
            description="Token usage across OpenAI models",
            aggregation_type="sum_agg",
            field_name="tokens",
            recurring=False,
            filters=[
                BillableMetricFilter(key="type", values=["input", "output"]),
                BillableMetricFilter(key="model", values=["8k", "32k"]),
            ],
        )
    )
    filters = [
        {
            "invoice_display_name": f"{model}-{kind}",
            "properties": {"amount": price, "free_units": 0, "package_size": 1_000_000},
            "values": {"model": [model], "type": [kind]},
        }
        for (model, kind), price in TOKEN_PRICES.items()
    ]
    lago.plans.create(
        Plan(
            name="OpenAI Pricing",
            code="openai_pricing",
            amount_cents=0,
            amount_currency="USD",
            interval="monthly",
            pay_in_advance=False,
            charges=[Charge(billable_metric_id=metric.lago_id, charge_model="package", filters=filters)],
        )
    )

    read_metric = api.get("billable_metrics/ai_tokens").json()["billable_metric"]
    assert read_metric["filters"] == [{"key": "model", "values": ["8k", "32k"]}, {"key": "type", "values": ["input", "output"]}]
    assert (read_metric["aggregation_type"], read_metric["field_name"], read_metric["recurring"]) == ("sum_agg", "tokens", False)

    plan = api.get("plans/openai_pricing").json()["plan"]
    assert (plan["amount_cents"], plan["interval"], plan["pay_in_advance"]) == (0, "monthly", False)
    [charge] = plan["charges"]
    assert charge["charge_model"] == "package"
    read_filters = sorted(charge["filters"], key=lambda f: f["invoice_display_name"])
    expected = sorted(filters, key=lambda f: f["invoice_display_name"])
    assert [(f["invoice_display_name"], f["values"]) for f in read_filters] == [
        (f["invoice_display_name"], f["values"]) for f in expected
    ]
    for got, want in zip(read_filters, expected, strict=True):
        assert {k: got["properties"][k] for k in want["properties"]} == want["properties"]
