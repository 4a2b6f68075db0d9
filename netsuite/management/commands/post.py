"""``manage.py post --tenant SLUG [--payout ID ...]``: post reconciled payouts to NetSuite now.

Looks up, by external id, the postings whose send had no definite answer from NetSuite;
creates the postings reconciliation calls for (drafts in approval mode, approved ones in
automatic mode, reversals of posted payouts that failed), then sends every approved
posting and resumes every posting a crashed worker left ``sending``, here in this process
(``--enqueue`` hands them to the workers instead). Sending is exactly-once whoever does
it: see ``netsuite.services``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ecomops.cli import command_tenant
from ecomops.tenancy import tenant_context


class Command(BaseCommand):
    help = "Post reconciled payouts of a tenant to NetSuite (create postings, send approved ones, resume stuck ones)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--tenant", required=True, help="the tenant's slug (or id)")
        parser.add_argument(
            "--payout",
            action="append",
            dest="payouts",
            help="a payout id or its source id (po_..., a Shopify GID); repeat for several (default: all)",
        )
        parser.add_argument("--enqueue", action="store_true", help="queue the sends on the posting workers")

    def handle(self, *args: Any, **options: Any) -> None:
        from netsuite.models import NetsuitePosting
        from netsuite.services import posting_enqueue, posting_send, postings_after_recon, postings_pending

        tenant = command_tenant(options["tenant"])
        with tenant_context(tenant):
            payout_ids = self._payout_ids(options["payouts"]) if options["payouts"] else None
            created = postings_after_recon(payout_ids=payout_ids, enqueue=False)
            if created.skipped_reason:
                self.stdout.write(f"Nothing to post: {created.skipped_reason}.")
                return
            settled = created.settled
            if settled is not None and (settled.posted or settled.not_posted or settled.unknown):
                self.stdout.write(
                    "Postings without a definite answer from NetSuite, looked up by external id: "
                    f"{settled.posted} found (now posted), {settled.not_posted} not there (retry them), "
                    f"{settled.unknown} still unknown."
                )
            self.stdout.write(
                f"Postings created: {created.approved} approved, {created.drafts} awaiting approval "
                f"({created.reversals} reversals of failed payouts); posting mode: {tenant.posting_mode}."
            )
            pending = postings_pending(payout_ids=payout_ids)
            if options["enqueue"]:
                for posting_id in pending:
                    posting_enqueue(posting_id=posting_id, tenant_id=tenant.pk)
                self.stdout.write(f"Queued {len(pending)} posting(s) on the posting queue.")
                return
            outcome: Counter[str] = Counter()
            for posting_id in pending:
                posting = posting_send(posting_id=posting_id)
                state = posting.state if posting else "missing"
                outcome[state] += 1
                if posting is not None and state == "failed":
                    self.stdout.write(f"  {posting.source_id}: failed - {posting.last_error}")
                elif posting is not None and state == "sending":
                    self.stdout.write(f"  {posting.source_id}: being sent by another worker, left to it")
            waiting = NetsuitePosting.objects.filter(tenant_id=tenant.pk, state="draft").count()
            self.stdout.write(
                f"Sent {len(pending)}: {outcome['posted']} posted, {outcome['failed']} failed, "
                f"{outcome['sending']} in progress elsewhere; {waiting} draft(s) await approval."
            )

    @staticmethod
    def _payout_ids(references: list[str]) -> list[Any]:
        """Payouts of the current tenant by id or by source id, as ``recon --payout`` and the MCP
        tools find them; an unknown one is an error."""
        from recon.services import resolve_payouts
        from tenants.services import ServiceError

        try:
            return [payout.pk for payout in resolve_payouts(references, field="payout")]
        except ServiceError as exc:
            raise CommandError(f"--payout: {exc}") from exc
