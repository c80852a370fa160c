"""Every ORM class, one file per table, one metadata."""

from billow.models.api_key import ApiKey
from billow.models.base import Base
from billow.models.billable_metric import BillableMetric, BillableMetricFilter
from billow.models.organization import Organization
from billow.models.plan import Plan
from billow.models.tax import Tax

__all__ = ["ApiKey", "Base", "BillableMetric", "BillableMetricFilter", "Organization", "Plan", "Tax"]
