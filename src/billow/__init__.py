"""Billow: usage-based billing and metering that speaks Lago's REST API."""

__version__ = "0.1.0"
