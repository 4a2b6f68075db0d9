"""Factories for connections (create them inside ``tenant_context``)."""

from __future__ import annotations

import factory

from connections.models import Connection, Provider


class ConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Connection

    name = factory.Sequence(lambda n: f"Stripe account {n}")
    provider = Provider.STRIPE
    base_url = "https://api.stripe.com"
    credentials = factory.LazyFunction(lambda: {"api_key": "sk_test_factory0000000000000000"})
