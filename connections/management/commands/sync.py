"""Sync a tenant's connections in the foreground, with a progress bar."""

from __future__ import annotations

import uuid

from django.core.management.base import BaseCommand, CommandError
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from connections.models import Connection, Provider, SyncJob
from connections.sync.runner import sync_job_run, sync_start
from ecomops.cli import command_tenant
from ecomops.tenancy import tenant_context


class Command(BaseCommand):
    help = "Sync a tenant's Stripe/Shopify connections now (foreground), with live progress."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True, help="the tenant's slug (or id)")
        parser.add_argument("--connection", help="one connection id (default: every enabled Stripe/Shopify one)")

    def handle(self, *args, **options) -> None:
        tenant = command_tenant(options["tenant"])
        failed = 0
        with tenant_context(tenant):
            connections = Connection.objects.filter(tenant_id=tenant.pk, enabled=True).exclude(
                provider=Provider.NETSUITE
            )
            if options["connection"]:
                try:
                    connection_id = uuid.UUID(options["connection"])
                except ValueError:
                    raise CommandError(f"{options['connection']!r} is not a connection id (a UUID).") from None
                connections = connections.filter(pk=connection_id)
                if not connections.exists():
                    raise CommandError(
                        f"No enabled Stripe/Shopify connection {options['connection']} in {tenant.slug}."
                    )
            for connection in connections.order_by("name"):
                job = sync_start(connection=connection, trigger="command", enqueue=False)
                with Progress(
                    TextColumn("[bold]{task.description}"),
                    BarColumn(),
                    TextColumn("{task.fields[detail]}"),
                    TimeElapsedColumn(),
                    transient=False,
                ) as progress:
                    task = progress.add_task(connection.name, total=None, detail="starting")

                    def show(current: SyncJob, task=task, progress=progress) -> None:
                        current.refresh_from_db()
                        progress.update(
                            task,
                            detail=f"{current.current_stream}: {current.pages} pages, {current.object_count} objects, "
                            f"{current.created_count} new, {current.updated_count} changed",
                        )

                    job = sync_job_run(job=job, on_commit=show)
                    progress.update(task, total=1, completed=1, detail=job.status)
                self.stdout.write(
                    f"{connection.name}: {job.status} - {job.pages} pages, {job.object_count} objects, "
                    f"{job.created_count} created, {job.updated_count} updated, {job.unchanged_count} unchanged"
                    + (f"; {job.error_message}" if job.error_message else "")
                )
                # a job left waiting for another sync of the connection (its message says so)
                # runs on a worker once that one ends: not a failure
                failed += job.status == "failed"
        if failed:
            raise CommandError(f"{failed} sync(s) failed.")
