"""Stripe connection: pure-Python client, normalizers and the development sandbox."""
