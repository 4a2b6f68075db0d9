"""Shopify connection: GraphQL queries, client, normalizers and a development sandbox.

Everything in this package is plain Python (no Django, no database): the sync services
wrap it. Money from Shopify arrives as decimal strings and leaves here as integer minor
units (see ``money``).
"""
