"""Coupons, and the coupons applied to customers."""
