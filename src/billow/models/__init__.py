"""Every ORM class, one file per table, one metadata."""

from billow.models.add_on import AddOn, add_on_taxes
from billow.models.api_key import ApiKey
from billow.models.applied_coupon import AppliedCoupon
from billow.models.applied_usage_threshold import AppliedUsageThreshold
from billow.models.base import Base
from billow.models.billable_metric import BillableMetric, BillableMetricFilter
from billow.models.charge import Charge, charge_taxes
from billow.models.charge_filter import ChargeFilter
from billow.models.coupon import Coupon, coupon_billable_metrics, coupon_plans
from billow.models.credit import Credit
from billow.models.credit_note import CreditNote, CreditNoteItem
from billow.models.customer import Customer, customer_taxes
from billow.models.customer_metadata import CustomerMetadata
from billow.models.document import Document
from billow.models.event import Event
from billow.models.event_watermark import EventWatermark
from billow.models.fee import Fee
from billow.models.instance_key import InstanceKey
from billow.models.invoice import Invoice
from billow.models.invoice_subscription import InvoiceSubscription
from billow.models.job import Job
from billow.models.lifetime_usage import LifetimeUsage
from billow.models.minimum_commitment import MinimumCommitment, commitment_taxes
from billow.models.organization import Organization
from billow.models.plan import Plan, plan_taxes
from billow.models.plan_version import PlanVersion
from billow.models.subscription import Subscription
from billow.models.tax import Tax
from billow.models.usage_aggregate import UsageAggregate, UsageProfile, UsageValueState
from billow.models.usage_threshold import UsageThreshold
from billow.models.webhook import Webhook
from billow.models.webhook_attempt import WebhookAttempt
from billow.models.webhook_endpoint import WebhookEndpoint

from billow.models import catalog  # noqa: E402,F401  (registers the catalog revision listener)

__all__ = [
    "AddOn",
    "ApiKey",
    "AppliedCoupon",
    "AppliedUsageThreshold",
    "Base",
    "BillableMetric",
    "BillableMetricFilter",
    "Charge",
    "ChargeFilter",
    "Coupon",
    "Credit",
    "CreditNote",
    "CreditNoteItem",
    "Customer",
    "CustomerMetadata",
    "Document",
    "Event",
    "EventWatermark",
    "Fee",
    "InstanceKey",
    "Invoice",
    "InvoiceSubscription",
    "Job",
    "LifetimeUsage",
    "MinimumCommitment",
    "Organization",
    "Plan",
    "PlanVersion",
    "Subscription",
    "Tax",
    "UsageAggregate",
    "UsageProfile",
    "UsageThreshold",
    "UsageValueState",
    "Webhook",
    "WebhookAttempt",
    "WebhookEndpoint",
    "add_on_taxes",
    "charge_taxes",
    "commitment_taxes",
    "coupon_billable_metrics",
    "coupon_plans",
    "customer_taxes",
    "plan_taxes",
]
