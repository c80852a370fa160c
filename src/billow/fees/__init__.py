"""Fees: the lines of invoices, read through ``/fees``."""
