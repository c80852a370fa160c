from __future__ import annotations

import re
import uuid
import zoneinfo
from functools import lru_cache
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from billow.core.wire import CurrencyCode, UtcDateTime, WireIn, WireOut, lago_error
from billow.customers.countries import normalise_country
from billow.models import Customer
from billow.taxes.schemas import TaxOut

CustomerType = Literal["company", "individual"]
AccountType = Literal["customer", "partner"]
PaymentProvider = Literal["stripe", "adyen", "gocardless", "cashfree", "moneyhash", "flutterwave"]
IntegrationType = Literal["netsuite", "anrok", "xero", "hubspot", "salesforce"]
FINALIZE_ZERO_AMOUNT_INVOICE = ("inherit", "finalize", "skip")

MAX_METADATA_ITEMS = 5
MAX_METADATA_KEY_LENGTH = 20
MAX_METADATA_VALUE_LENGTH = 100

_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
_LOCALE = re.compile(r"^[a-z]{2}(-[A-Z]{2})?$")

# Fields the billing configuration object carries, on the wire and as Customer columns.
BILLING_CONFIGURATION_FIELDS = (
    "invoice_grace_period",
    "payment_provider",
    "payment_provider_code",
    "provider_customer_id",
    "sync",
    "sync_with_provider",
    "provider_payment_methods",
    "document_locale",
    "subscription_invoice_issuing_date_anchor",
    "subscription_invoice_issuing_date_adjustment",
)
ADDRESS_FIELDS = ("address_line1", "address_line2", "city", "zipcode", "state", "country")


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones() | {"UTC"})


def is_timezone(name: str) -> bool:
    return name in _timezones()


def country_code(value: str) -> str:
    """Upper-cased ISO 3166 alpha-2 code; raises Lago's country error otherwise."""
    code = normalise_country(value)
    if code is None:
        raise lago_error("not_a_valid_country_code")
    return code


# ---- requests ------------------------------------------------------------------------------------


class BillingConfigurationIn(WireIn):
    invoice_grace_period: int | None = Field(default=None, ge=0, le=365)
    payment_provider: PaymentProvider | None = None
    payment_provider_code: str | None = Field(default=None, max_length=255)
    provider_customer_id: str | None = Field(default=None, max_length=255)
    sync: bool | None = None
    sync_with_provider: bool | None = None
    provider_payment_methods: list[str] | None = None
    document_locale: str | None = None
    subscription_invoice_issuing_date_anchor: Literal["current_period_end", "next_period_start"] | None = None
    subscription_invoice_issuing_date_adjustment: Literal["align_with_finalization_date", "keep_anchor"] | None = None

    @field_validator("document_locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        if not _LOCALE.match(value):
            raise lago_error("value_is_invalid")
        return value


class AddressIn(WireIn):
    address_line1: str | None = Field(default=None, max_length=255)
    address_line2: str | None = Field(default=None, max_length=255)
    city: str | None = Field(default=None, max_length=255)
    zipcode: str | None = Field(default=None, max_length=64)
    state: str | None = Field(default=None, max_length=255)
    # Checked by the service, which reports it as `shipping_country` like Lago does.
    country: str | None = None


class MetadataItemIn(WireIn):
    id: str | None = None
    key: str
    value: str
    display_in_invoice: bool = False

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        # An id that is not one of the customer's items simply creates a new item.
        try:
            return str(uuid.UUID(value))
        except ValueError:
            return value

    @field_validator("key", "value")
    @classmethod
    def _not_blank(cls, text: str) -> str:
        # Lengths are checked by the service: the wire layer reads `*_too_long` codes as pydantic's own.
        if not text.strip():
            raise lago_error("value_is_mandatory")
        return text


class IntegrationCustomerIn(WireIn):
    id: str | None = None
    integration_type: IntegrationType
    integration_code: str = Field(min_length=1, max_length=255)
    external_customer_id: str | None = None
    sync_with_provider: bool | None = None
    subsidiary_id: str | None = None
    targeted_object: str | None = None
    email: str | None = None


class CustomerIn(WireIn):
    """`POST /customers` body: creates the customer, or updates only the keys sent."""

    external_id: str = Field(min_length=1, max_length=255)
    name: str | None = Field(default=None, max_length=255)
    firstname: str | None = Field(default=None, max_length=255)
    lastname: str | None = Field(default=None, max_length=255)
    email: str | None = None
    legal_name: str | None = Field(default=None, max_length=255)
    legal_number: str | None = Field(default=None, max_length=255)
    tax_identification_number: str | None = Field(default=None, max_length=255)
    phone: str | None = Field(default=None, max_length=255)
    url: str | None = None
    logo_url: str | None = None
    address_line1: str | None = Field(default=None, max_length=255)
    address_line2: str | None = Field(default=None, max_length=255)
    city: str | None = Field(default=None, max_length=255)
    zipcode: str | None = Field(default=None, max_length=64)
    state: str | None = Field(default=None, max_length=255)
    country: str | None = None
    shipping_address: AddressIn | None = None
    currency: CurrencyCode | None = None
    timezone: str | None = None
    net_payment_term: int | None = Field(default=None, ge=0, le=2**31 - 1)
    customer_type: CustomerType | None = None
    account_type: AccountType | None = None
    finalize_zero_amount_invoice: str | None = None
    billing_configuration: BillingConfigurationIn | None = None
    metadata: list[MetadataItemIn] | None = None
    tax_codes: list[str] | None = None
    integration_customers: list[IntegrationCustomerIn] | None = None
    billing_entity_code: str | None = Field(default=None, max_length=255)
    skip_invoice_custom_sections: bool | None = None
    invoice_custom_section_codes: list[str] | None = None

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        return country_code(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        if not is_timezone(value):
            raise lago_error("invalid_timezone")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        # Several addresses may be given, separated by commas.
        if not all(_EMAIL.match(part.strip()) for part in value.split(",")):
            raise lago_error("invalid_email_format")
        return value

    @field_validator("finalize_zero_amount_invoice")
    @classmethod
    def _finalize_zero(cls, value: str) -> str:
        if value not in FINALIZE_ZERO_AMOUNT_INVOICE:
            raise lago_error("invalid_value")
        return value

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata_count(cls, value: Any) -> Any:
        if isinstance(value, list) and len(value) > MAX_METADATA_ITEMS:
            raise lago_error("invalid_count")
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata_keys_unique(cls, items: list[MetadataItemIn]) -> list[MetadataItemIn]:
        keys = [item.key for item in items]
        if len(keys) != len(set(keys)):
            raise lago_error("value_already_exist")
        return items


class CustomerFilters(WireIn):
    """Query filters of `GET /customers` (array filters use Rails' `name[]` keys)."""

    search_term: str | None = None
    countries: list[str] = []
    states: list[str] = []
    zipcodes: list[str] = []
    currencies: list[str] = []
    account_type: list[AccountType] = []
    billing_entity_codes: list[str] = []
    customer_type: CustomerType | None = None
    has_customer_type: bool | None = None
    has_tax_identification_number: bool | None = None
    metadata: dict[str, str] = {}

    @field_validator("countries")
    @classmethod
    def _countries(cls, values: list[str]) -> list[str]:
        return [value.strip().upper() for value in values]


# ---- responses -----------------------------------------------------------------------------------


class BillingConfigurationOut(WireOut):
    invoice_grace_period: int | None
    payment_provider: str | None
    payment_provider_code: str | None
    provider_customer_id: str | None
    sync: bool | None
    sync_with_provider: bool | None
    provider_payment_methods: list[str] | None
    document_locale: str | None
    subscription_invoice_issuing_date_anchor: str | None
    subscription_invoice_issuing_date_adjustment: str | None


class AddressOut(WireOut):
    address_line1: str | None
    address_line2: str | None
    city: str | None
    zipcode: str | None
    state: str | None
    country: str | None


class MetadataItemOut(WireOut):
    lago_id: uuid.UUID = Field(validation_alias="id")
    key: str
    value: str
    display_in_invoice: bool
    created_at: UtcDateTime


class IntegrationCustomerOut(WireOut):
    lago_id: str
    type: str
    integration_code: str
    external_customer_id: str | None = None
    sync_with_provider: bool | None = None
    subsidiary_id: str | None = None
    targeted_object: str | None = None
    email: str | None = None


class CustomerOut(WireOut):
    lago_id: uuid.UUID
    sequential_id: int
    slug: str
    external_id: str
    billing_entity_code: str | None
    name: str | None
    firstname: str | None
    lastname: str | None
    email: str | None
    legal_name: str | None
    legal_number: str | None
    tax_identification_number: str | None
    phone: str | None
    url: str | None
    logo_url: str | None
    address_line1: str | None
    address_line2: str | None
    city: str | None
    zipcode: str | None
    state: str | None
    country: str | None
    currency: str | None
    timezone: str | None
    applicable_timezone: str
    net_payment_term: int | None
    customer_type: str | None
    account_type: str
    finalize_zero_amount_invoice: str
    skip_invoice_custom_sections: bool
    invoice_custom_section_codes: list[str]
    created_at: UtcDateTime
    updated_at: UtcDateTime
    billing_configuration: BillingConfigurationOut
    shipping_address: AddressOut
    metadata: list[MetadataItemOut]
    integration_customers: list[IntegrationCustomerOut]
    taxes: list[TaxOut]
    applicable_invoice_custom_sections: list[dict[str, Any]]
    error_details: list[dict[str, Any]]

    @model_validator(mode="before")
    @classmethod
    def _from_customer(cls, data: Any) -> Any:
        if not isinstance(data, Customer):
            return data
        row = {column: getattr(data, column) for column in cls.model_fields if hasattr(Customer, column)}
        row.update(
            lago_id=data.id,
            applicable_timezone=data.applicable_timezone,
            billing_configuration={name: getattr(data, name) for name in BILLING_CONFIGURATION_FIELDS},
            shipping_address={name: getattr(data, f"shipping_{name}") for name in ADDRESS_FIELDS},
            metadata=data.metadata_items,
            taxes=data.taxes,
            # Invoice custom sections and background-sync errors are not modelled yet.
            applicable_invoice_custom_sections=[],
            error_details=[],
        )
        return row
