"""Stripe sandbox: a deterministic Stripe account served over HTTP on loopback."""
