"""Invoices: the billing run, fees, numbering, statuses and their wire format."""
