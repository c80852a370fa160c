from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy.orm import Session

from billow.core import clock
from billow.core.errors import ValidationFailed
from billow.core.wire import dump
from billow.coupons import applied_service
from billow.customers import repository
from billow.customers.countries import normalise_country
from billow.customers.schemas import (
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_VALUE_LENGTH,
    CustomerIn,
    CustomerOut,
    IntegrationCustomerIn,
    MetadataItemIn,
)
from billow.models import Customer, CustomerMetadata, Organization
from billow.subscriptions import service as subscriptions_service
from billow.taxes.repository import resolve_codes
from billow.webhooks import service as webhooks

# Request keys that are not plain Customer columns of the same name (handled one by one).
_NESTED = {"external_id", "shipping_address", "billing_configuration", "metadata", "tax_codes", "integration_customers"}


def slug_for(organization: Organization, sequential_id: int) -> str:
    """A readable per-organization identifier: the organization name's first letters and the number."""
    prefix = re.sub(r"[^A-Za-z0-9]", "", organization.name)[:3].upper() or "CUS"
    return f"{prefix}-{sequential_id:04d}"


def upsert(session: Session, organization: Organization, data: CustomerIn) -> Customer:
    """Create the customer when its external id is unknown, else change only the keys sent."""
    repository.lock_organization(session, organization.id)
    customer = repository.find_by_external_id(session, organization.id, data.external_id)

    # Every check runs before anything is written.
    if data.metadata is not None:
        _check_metadata_lengths(data.metadata)
    if data.integration_customers is not None:
        _check_one_link_per_integration_type(data.integration_customers)
    shipping = _shipping_changes(data)
    taxes = resolve_codes(session, organization.id, data.tax_codes) if data.tax_codes is not None else None
    if customer is not None:
        _check_currency_change(session, customer, data.currency)

    created = customer is None
    if customer is None:
        customer = _new_customer(session, organization, data.external_id)
    for key, value in data.changes(exclude=_NESTED).items():
        setattr(customer, key, value)
    for key, value in shipping.items():
        setattr(customer, f"shipping_{key}", value)
    if data.billing_configuration is not None:
        for key, value in data.billing_configuration.changes().items():
            setattr(customer, key, value)
    if data.integration_customers is not None:
        customer.integration_customers = _integration_customers(customer, data.integration_customers)
    if taxes is not None:
        customer.taxes = taxes
    session.flush()
    if data.metadata is not None:
        _replace_metadata(session, customer, data.metadata)
    # Reload the collections so the response lists them in their stored order.
    session.expire(customer, ["metadata_items", "taxes"])
    webhook_type = "customer.created" if created else "customer.updated"
    webhooks.emit(session, organization.id, webhook_type, "customer", dump(CustomerOut, customer))
    return customer


def delete(session: Session, organization: Organization, external_id: str) -> Customer:
    """Soft delete: the customer disappears from the API, its external id becomes free again."""
    customer = repository.get(session, organization.id, external_id)
    applied_service.terminate_for_customer(session, customer)
    subscriptions_service.terminate_for_customer(session, customer)
    customer.deleted_at = clock.now()
    session.flush()
    return customer


# ---- helpers ---------------------------------------------------------------------------------------


def _new_customer(session: Session, organization: Organization, external_id: str) -> Customer:
    sequential_id = repository.next_sequential_id(session, organization.id)
    customer = Customer(
        organization_id=organization.id,
        organization=organization,
        external_id=external_id,
        sequential_id=sequential_id,
        slug=slug_for(organization, sequential_id),
        account_type="customer",
        finalize_zero_amount_invoice="inherit",
        skip_invoice_custom_sections=False,
        integration_customers=[],
        invoice_custom_section_codes=[],
    )
    session.add(customer)
    return customer


def _shipping_changes(data: CustomerIn) -> dict[str, Any]:
    if data.shipping_address is None:
        return {}
    changes = data.shipping_address.changes()
    if "country" in changes:
        code = normalise_country(changes["country"])
        if code is None:
            raise ValidationFailed.field("shipping_country", "not_a_valid_country_code")
        changes["country"] = code
    return changes


def _check_metadata_lengths(items: list[MetadataItemIn]) -> None:
    errors: dict[str, list[str]] = {}
    for item in items:
        if len(item.key) > MAX_METADATA_KEY_LENGTH:
            errors["key"] = ["value_is_too_long"]
        if len(item.value) > MAX_METADATA_VALUE_LENGTH:
            errors["value"] = ["value_is_too_long"]
    if errors:
        raise ValidationFailed(errors)


def _check_one_link_per_integration_type(items: list[IntegrationCustomerIn]) -> None:
    kinds = [item.integration_type for item in items]
    if len(kinds) != len(set(kinds)):
        raise ValidationFailed.field("integration_customers", "invalid_count_per_integration_type")


def _check_currency_change(session: Session, customer: Customer, currency: str | None) -> None:
    """A customer holding amounts in its currency (fixed-amount coupons) keeps that currency."""
    if currency is None or customer.currency is None or currency == customer.currency:
        return
    if repository.has_currency_bound_coupons(session, customer.id):
        raise ValidationFailed.field("currency", "currencies_does_not_match")


def _integration_customers(customer: Customer, items: list[IntegrationCustomerIn]) -> list[dict[str, Any]]:
    """Stored in their response shape; an integration type already linked keeps its lago_id."""
    known = {item["type"]: item["lago_id"] for item in customer.integration_customers}
    stored = []
    for item in items:
        fields = item.changes(exclude={"id", "integration_type"})
        lago_id = known.get(item.integration_type) or str(uuid.uuid4())
        stored.append({"lago_id": lago_id, "type": item.integration_type, **fields})
    return stored


def _replace_metadata(session: Session, customer: Customer, items: list[MetadataItemIn]) -> None:
    """The list sent is the whole new list: items with a known `id` are updated, items without one are
    created, and existing items that are not listed are removed."""
    existing = {str(item.id): item for item in customer.metadata_items}
    kept = {item.id: item for item in items if item.id is not None and item.id in existing}

    for row in list(customer.metadata_items):
        if str(row.id) not in kept:
            customer.metadata_items.remove(row)
    session.flush()

    # Keys are unique per customer: park renamed keys first so that swapping keys between items
    # never collides with the unique index in an intermediate state.
    renamed = [existing[item_id] for item_id, item in kept.items() if existing[item_id].key != item.key]
    for row in renamed:
        row.key = f"~{row.id.hex}"
    if renamed:
        session.flush()
    for item_id, item in kept.items():
        row = existing[item_id]
        row.key, row.value, row.display_in_invoice = item.key, item.value, item.display_in_invoice
    session.flush()

    for item in items:
        if item.id is None or item.id not in existing:
            customer.metadata_items.append(
                CustomerMetadata(
                    organization_id=customer.organization_id,
                    key=item.key,
                    value=item.value,
                    display_in_invoice=item.display_in_invoice,
                )
            )
    session.flush()
