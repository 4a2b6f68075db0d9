"""``manage.py runmcp --tenant SLUG --user EMAIL``: the MCP tools over stdio, for one user in one tenant.

Refuses, on stderr with exit status 1 and before serving anything, an unknown tenant, a user
who is not an active member of it, a tenant whose plan has no MCP tools and a user whose role
lacks ``tenants.use_mcp``. Standard output carries protocol messages only; logs go to stderr.
"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Serve the MCP tools over stdio for one user in one tenant (DESIGN §8)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--tenant", required=True, help="the tenant's slug (or id)")
        parser.add_argument("--user", required=True, help="the email of the member the tools act as")

    def handle(self, *args: Any, **options: Any) -> None:
        from django.db import connection

        from ecomops.cli import command_tenant
        from ecomops.text import is_storable
        from mcp_bridge.governance import AccessRefused, Pipeline, check_access, rate_for
        from mcp_bridge.server import GovernedServer
        from mcp_bridge.tools import TOOLS
        from tenants.models import User

        tenant = command_tenant(options["tenant"])
        email = options["user"].strip()
        user = User.objects.filter(email__iexact=email).first() if is_storable(email) else None
        if user is None:
            raise CommandError(f"{email} is not an active member of tenant {tenant.slug}.")
        try:
            check_access(tenant=tenant, user=user)
        except AccessRefused as exc:
            raise CommandError(str(exc)) from exc
        for tool in TOOLS:  # a bad MCP_RATE_LIMIT(S) stops the server here, not on a call
            try:
                rate_for(tool.name)
            except ValueError as exc:
                raise CommandError(f"MCP_RATE_LIMITS {tool.name}: {exc}") from exc
        connection.close()  # calls run on their own thread, with their own connection
        GovernedServer(Pipeline(tenant=tenant, user=user, tools=TOOLS)).run()
