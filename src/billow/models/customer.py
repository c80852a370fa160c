from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billow.core.types import JSONType
from billow.models.base import (
    Base,
    IdMixin,
    OrgScopedMixin,
    SoftDeleteMixin,
    TimestampMixin,
    unique_live_code,
)
from billow.models.organization import Organization
from billow.models.tax import Tax, applied_taxes, tax_links

if TYPE_CHECKING:
    from billow.models.customer_metadata import CustomerMetadata

# Taxes applied to a customer's invoices (replaced as a whole by `tax_codes`).
customer_taxes = tax_links("customer_taxes", "customer_id", "customers")


class Customer(IdMixin, OrgScopedMixin, TimestampMixin, SoftDeleteMixin, Base):
    """A billed account, addressed by the caller's `external_id` (unique among live customers)."""

    __tablename__ = "customers"
    __table_args__ = (
        unique_live_code("customers", "organization_id", "external_id"),
        UniqueConstraint("organization_id", "sequential_id"),
    )

    external_id: Mapped[str] = mapped_column(String(255), nullable=False)
    # Per-organization counter starting at 1; deleted customers keep theirs, so it is never reused.
    sequential_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    slug: Mapped[str] = mapped_column(String(64), nullable=False)

    name: Mapped[str | None] = mapped_column(String(255))
    firstname: Mapped[str | None] = mapped_column(String(255))
    lastname: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(Text)
    legal_name: Mapped[str | None] = mapped_column(String(255))
    legal_number: Mapped[str | None] = mapped_column(String(255))
    tax_identification_number: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(255))
    url: Mapped[str | None] = mapped_column(Text)
    logo_url: Mapped[str | None] = mapped_column(Text)

    address_line1: Mapped[str | None] = mapped_column(String(255))
    address_line2: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str | None] = mapped_column(String(255))
    zipcode: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str | None] = mapped_column(String(255))
    country: Mapped[str | None] = mapped_column(String(2))

    shipping_address_line1: Mapped[str | None] = mapped_column(String(255))
    shipping_address_line2: Mapped[str | None] = mapped_column(String(255))
    shipping_city: Mapped[str | None] = mapped_column(String(255))
    shipping_zipcode: Mapped[str | None] = mapped_column(String(64))
    shipping_state: Mapped[str | None] = mapped_column(String(255))
    shipping_country: Mapped[str | None] = mapped_column(String(2))

    # Default currency; filled by the first fixed-amount coupon (or subscription) when empty.
    currency: Mapped[str | None] = mapped_column(String(3))
    # IANA name; when empty the organization's timezone applies.
    timezone: Mapped[str | None] = mapped_column(String(64))
    net_payment_term: Mapped[int | None] = mapped_column(Integer)
    customer_type: Mapped[str | None] = mapped_column(String(16))  # company | individual
    account_type: Mapped[str] = mapped_column(String(16), nullable=False, default="customer")  # customer | partner
    # inherit | finalize | skip
    finalize_zero_amount_invoice: Mapped[str] = mapped_column(String(16), nullable=False, default="inherit")

    # billing_configuration
    invoice_grace_period: Mapped[int | None] = mapped_column(Integer)
    payment_provider: Mapped[str | None] = mapped_column(String(32))
    payment_provider_code: Mapped[str | None] = mapped_column(String(255))
    provider_customer_id: Mapped[str | None] = mapped_column(String(255))
    sync: Mapped[bool | None] = mapped_column(Boolean)
    sync_with_provider: Mapped[bool | None] = mapped_column(Boolean)
    provider_payment_methods: Mapped[list[str] | None] = mapped_column(JSONType())
    document_locale: Mapped[str | None] = mapped_column(String(16))
    subscription_invoice_issuing_date_anchor: Mapped[str | None] = mapped_column(String(32))
    subscription_invoice_issuing_date_adjustment: Mapped[str | None] = mapped_column(String(32))

    # Accounting/CRM integration links, stored as given: [{lago_id, integration_type, integration_code, ...}].
    integration_customers: Mapped[list[dict[str, Any]]] = mapped_column(JSONType(), nullable=False, default=list)
    billing_entity_code: Mapped[str | None] = mapped_column(String(255))
    skip_invoice_custom_sections: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    invoice_custom_section_codes: Mapped[list[str]] = mapped_column(JSONType(), nullable=False, default=list)

    organization: Mapped[Organization] = relationship()
    metadata_items: Mapped[list[CustomerMetadata]] = relationship(
        back_populates="customer",
        order_by="CustomerMetadata.key",
        cascade="all, delete-orphan",
        lazy="selectin",
    )
    taxes: Mapped[list[Tax]] = applied_taxes(customer_taxes)

    @property
    def applicable_timezone(self) -> str:
        return self.timezone or self.organization.timezone or "UTC"
