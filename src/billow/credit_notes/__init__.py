"""Credit notes: money given back on finalized invoices (credit, refund, offset)."""
