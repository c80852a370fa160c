"""Subscriptions: a customer on a plan, its lifecycle and its billing periods."""
