"""Webhook endpoints and outbound webhooks (outbox rows delivered by jobs, signed like Lago)."""
