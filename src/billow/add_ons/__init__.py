"""Add-ons: one-off priced items for one-off invoices and fixed charges."""
