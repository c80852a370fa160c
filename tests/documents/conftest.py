"""The frozen clock of the billing stories (documents need invoices, which need billing runs)."""

from tests.scenarios.conftest import at  # noqa: F401
