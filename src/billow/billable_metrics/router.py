from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy.orm import Session

from billow.billable_metrics import repository, service
from billow.billable_metrics.schemas import (
    BillableMetricCreate,
    BillableMetricUpdate,
    EvaluateExpressionIn,
    dump_metric,
    expression_value,
)
from billow.core.db import DbSession
from billow.core.pagination import Paging, paginate
from billow.core.wire import JsonBody, RootBody, validate
from billow.models import BillableMetric
from billow.organizations.auth import CurrentOrg

router = APIRouter(prefix="/billable_metrics", tags=["billable_metrics"])


def _one(session: Session, metric: BillableMetric) -> dict[str, Any]:
    return {"billable_metric": dump_metric(metric, repository.plans_count(session, metric.id))}


@router.post("/evaluate_expression")
def evaluate_expression(org: CurrentOrg, body: Any = JsonBody()) -> dict[str, Any]:
    # Top-level keys, no root; an empty body is a missing expression (422), as in Lago.
    data = validate(EvaluateExpressionIn, {} if body is None else body)
    return {"expression_result": {"value": expression_value(service.evaluate_expression(data))}}


@router.post("")
def create_billable_metric(
    org: CurrentOrg, session: DbSession, data: BillableMetricCreate = RootBody("billable_metric", BillableMetricCreate)
) -> dict[str, Any]:
    return _one(session, service.create(session, org, data))


@router.get("")
def list_billable_metrics(org: CurrentOrg, session: DbSession, paging: Paging) -> dict[str, Any]:
    metrics, meta = paginate(session, repository.list_query(org.id), paging)
    counts = repository.plans_counts(session, [metric.id for metric in metrics])
    return {"billable_metrics": [dump_metric(metric, counts.get(metric.id, 0)) for metric in metrics], "meta": meta}


@router.get("/{code}")
def get_billable_metric(code: str, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    return _one(session, repository.get(session, org.id, code))


@router.put("/{code}")
def update_billable_metric(
    code: str,
    org: CurrentOrg,
    session: DbSession,
    data: BillableMetricUpdate = RootBody("billable_metric", BillableMetricUpdate),
) -> dict[str, Any]:
    return _one(session, service.update(session, org, code, data))


@router.delete("/{code}")
def delete_billable_metric(code: str, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    return _one(session, service.delete(session, org, code))
