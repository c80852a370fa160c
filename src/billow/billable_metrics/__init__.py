"""Billable metrics: what usage is measured and how events aggregate into billable units."""
