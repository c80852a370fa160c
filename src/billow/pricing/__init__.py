"""Billing arithmetic, pure: no database, web framework, clock or I/O.

Charge properties, aggregation semantics, charge models, periods and invoice arithmetic live
here, so current usage, drafts, final invoices and previews compute identical numbers.
"""
