"""Plans, their charges, charge filters, minimum commitments, usage thresholds and versions."""
