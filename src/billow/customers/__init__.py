"""Customers: the billed accounts, upserted by their external id."""
