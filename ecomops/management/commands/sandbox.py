"""Serve the Stripe, Shopify and NetSuite sandboxes on loopback ports (development only).

With ``--configure-demo`` the demo tenant's connections are pointed at them, so `make run`
gives a business to sync, reconcile and post without any outside account. It also turns on
``--settle``: after their days of sales the Stripe and Shopify businesses go on for a few
quiet days, without new orders, until every payout has arrived, so the month of their last
payouts (and every month before) holds no payout still on its way and can be closed.
"""

from __future__ import annotations

import hashlib
import signal
import threading
from datetime import date
from pathlib import Path

import structlog
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ecomops.cli import PORT, at_least
from ecomops.sandbox_http import SandboxServer

logger = structlog.get_logger(__name__)

DEMO_NETSUITE_ACCOUNT = "1234567_SB1"


def _demo_secret(name: str) -> str:
    # Stable across restarts so the demo connections keep working; sandbox-only values.
    return hashlib.sha256(f"ecomops-demo-sandbox:{name}".encode()).hexdigest()


class Command(BaseCommand):
    help = "Serve the Stripe, Shopify and NetSuite sandboxes on 127.0.0.1 (never under production settings)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--stripe-port", type=PORT, default=12111)
        parser.add_argument("--shopify-port", type=PORT, default=12112)
        parser.add_argument("--netsuite-port", type=PORT, default=12113)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--days", type=at_least(0), default=30, help="days of business each sandbox holds")
        parser.add_argument(
            "--settle",
            action="store_true",
            help=(
                "after the days of sales, run quiet days with no new orders (scheduled refunds and disputes "
                "still happen) until every payout has arrived and nothing waits to be paid out "
                "(at most 14 days), so the last month can be closed"
            ),
        )
        parser.add_argument(
            "--configure-demo",
            action="store_true",
            help="create or update the demo tenant's connections to point at these sandboxes (implies --settle)",
        )

    def handle(self, *args, **options) -> None:
        if not getattr(settings, "ECOMOPS_SANDBOXES_ALLOWED", False):
            raise CommandError("The sandboxes are development fakes and never run under production settings.")
        from connections.shopify.sandbox.server import DEFAULT_ACCESS_TOKEN
        from connections.stripe.sandbox.server import DEFAULT_API_KEY
        from netsuite.sandbox.server import build_netsuite_sandbox

        data_dir = Path(settings.BASE_DIR) / ".data"
        data_dir.mkdir(exist_ok=True)
        netsuite = build_netsuite_sandbox(
            DEMO_NETSUITE_ACCOUNT,
            consumer_key=_demo_secret("consumer_key"),
            consumer_secret=_demo_secret("consumer_secret"),
            token_id=_demo_secret("token_id"),
            token_secret=_demo_secret("token_secret"),
            db_path=str(data_dir / "netsuite-sandbox.sqlite3"),
        )
        apps = {**self._processor_apps(options), "netsuite": netsuite.app}
        servers: dict[str, SandboxServer] = {}
        for name, app in apps.items():
            port = options[f"{name}_port"]
            try:
                servers[name] = SandboxServer(app, port=port)  # binds the port
            except OSError as exc:  # taken, or not ours to take: say which, in one line
                for server in servers.values():
                    server.httpd.server_close()  # bound, never started: stop() would wait for it
                raise CommandError(f"--{name}-port {port}: cannot listen there ({exc.strerror}).") from exc
        for name, server in servers.items():
            server.start()
            self.stdout.write(f"{name:9} sandbox on {server.url}")
        if options["configure_demo"]:
            self._configure_demo(servers, DEFAULT_API_KEY, DEFAULT_ACCESS_TOKEN, netsuite.credentials)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        finally:
            for server in servers.values():
                server.stop()

    @staticmethod
    def _processor_apps(options: dict) -> dict:
        """The Stripe and Shopify sandbox apps the options ask for, their businesses settled
        with ``--settle`` or ``--configure-demo`` (the demo's last month must be closable)."""
        from connections.shopify.sandbox.server import build_shopify_sandbox
        from connections.stripe.sandbox.server import build_stripe_sandbox

        settle = options["settle"] or options["configure_demo"]
        return {
            "stripe": build_stripe_sandbox(seed=options["seed"], days=options["days"], settle=settle),
            "shopify": build_shopify_sandbox(
                seed=options["seed"],
                days=options["days"],
                start=date(2024, 1, 1),
                maximum_available=20000.0,
                restore_rate=2000.0,
                settle=settle,
            ),
        }

    def _configure_demo(self, servers, stripe_key: str, shopify_token: str, ns_credentials) -> None:
        from connections.models import Connection
        from connections.services import connection_create, connection_update
        from ecomops.tenancy import tenant_context
        from tenants.demo import DEMO_SLUG
        from tenants.models import Tenant

        tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
        if tenant is None:
            raise CommandError("No demo tenant: run `manage.py ensure_demo` first.")
        wanted = {
            "Stripe (sandbox)": {
                "provider": "stripe",
                "base_url": servers["stripe"].url,
                "credentials": {"api_key": stripe_key, "webhook_secret": _demo_secret("stripe_wh")},
            },
            "Shopify (sandbox)": {
                "provider": "shopify",
                "base_url": servers["shopify"].url,
                "account_id": "ecomops-demo.myshopify.com",
                "credentials": {"access_token": shopify_token, "webhook_secret": _demo_secret("shopify_wh")},
            },
            "NetSuite (sandbox)": {
                "provider": "netsuite",
                "base_url": servers["netsuite"].url,
                "account_id": ns_credentials.account_id,
                "credentials": {
                    "consumer_key": ns_credentials.consumer_key,
                    "consumer_secret": ns_credentials.consumer_secret,
                    "token_id": ns_credentials.token_id,
                    "token_secret": ns_credentials.token_secret,
                },
            },
        }
        with tenant_context(tenant):
            connections = {}
            for name, spec in wanted.items():
                existing = Connection.objects.filter(tenant_id=tenant.pk, name=name).first()
                if existing is None:
                    connections[name] = connection_create(
                        actor=None, name=name, backfill_start=date(2024, 1, 1), **spec
                    )
                else:
                    connections[name] = connection_update(
                        actor=None, connection=existing, credentials=spec["credentials"], base_url=spec["base_url"]
                    )
            self._map_demo_accounts(connections, ns_credentials)
        self.stdout.write("Demo tenant's connections point at the sandboxes.")

    @staticmethod
    def _map_demo_accounts(connections: dict, ns_credentials) -> None:
        """A GL mapping for each processor onto the NetSuite sandbox's seeded chart, so a reconciled
        payout of the demo can be approved and posted; one a person already made is left as it is."""
        from netsuite.models import GlMapping
        from netsuite.services import gl_mapping_check, gl_mapping_create
        from tenants.services import ServiceError

        netsuite = connections["NetSuite (sandbox)"]
        accounts = {f"{role}_account": internal_id for role, internal_id in ns_credentials.gl_mapping_ids().items()}
        for name in ("Stripe (sandbox)", "Shopify (sandbox)"):
            if not GlMapping.objects.filter(connection=connections[name]).exists():
                gl_mapping_create(
                    actor=None,
                    connection=connections[name],
                    netsuite_connection=netsuite,
                    subsidiary_id="1",
                    currency_ids=ns_credentials.currency_ids(),
                    **accounts,
                )
        # Looked up in the NetSuite sandbox just started: the entries then name their accounts.
        for mapping in GlMapping.objects.filter(netsuite_connection=netsuite).select_related("netsuite_connection"):
            try:
                gl_mapping_check(actor=None, mapping=mapping)
            except ServiceError as exc:  # the demo runs without the names
                logger.warning("demo_mapping_not_checked", mapping=str(mapping.pk), error=str(exc))
