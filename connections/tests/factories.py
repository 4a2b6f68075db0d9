"""Factories for connections (create them inside ``tenant_context``)."""

from __future__ import annotations

from typing import Any

import factory
from django.utils import timezone

from connections.models import Connection, Provider, SyncJob, SyncJobStatus


class ConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Connection
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Stripe account {n}")
    provider = Provider.STRIPE
    base_url = "https://api.stripe.com"
    credentials = factory.LazyFunction(lambda: {"api_key": "sk_test_factory0000000000000000"})

    @factory.post_generation
    def synced_by(connection: Connection, create: bool, extracted: Any, **kwargs: Any) -> None:
        """A connection that synced (``last_sync_succeeded_at``) has the full sync that did it:
        the month close reads when that sync started, not only when it ended."""
        if create and connection.last_sync_succeeded_at:
            SyncJobFactory(connection=connection, at=connection.last_sync_succeeded_at)


class SyncJobFactory(factory.django.DjangoModelFactory):
    """A full sync of ``connection`` that succeeded, queued, started and finished ``at`` (now,
    unless given; or give ``started_at`` and ``finished_at``)."""

    class Meta:
        model = SyncJob
        exclude = ["at"]

    at = factory.LazyFunction(timezone.now)
    kind = "incremental"
    trigger = "schedule"
    status = SyncJobStatus.SUCCEEDED
    queued_at = factory.SelfAttribute("started_at")
    started_at = factory.SelfAttribute("at")
    finished_at = factory.SelfAttribute("at")
