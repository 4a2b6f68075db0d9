"""``manage.py recon --tenant SLUG [--payout ID ...] [--connection ID ...] [--from DATE --to DATE]``

Reconciles in the foreground, inside the tenant's context, and prints the outcome counts.
A cron job or script reads the outcome from the exit status (``EXIT_STATUSES``); a run that
failed or ended stale also says so, with the reason, on stderr. An option's value the command
refuses exits as an option it could not read does (2), before anything is written, so that a
script can tell "called wrong" from "the run failed".
"""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ecomops.cli import command_tenant
from tenants.services import ServiceError


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


# 1 and 2 are what every management command answers (an error it raised, options argparse could
# not read); a value argparse read but the command refuses (an unknown tenant or payout) is a
# usage error too, so it shares 2 with argparse's refusals and leaves 1 to runs that failed.
# 3 tells a run that finished on data not fresh enough to trust from one that failed.
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_STALE = 3
EXIT_STATUSES = (
    "Exit status: 0 the run completed; 1 it failed; 2 the options could not be read or their values "
    "were refused (an unknown tenant, payout or connection, --to before --from), and nothing was run; "
    "3 it ended stale: a source was failing or not synced recently enough, so its results are not a "
    "clean bill of health. The reason for 1, 2 or 3 is printed on stderr."
)


# The service names its inputs as the API does; the command's user knows them as options.
OPTIONS = {"connection_ids": "--connection", "payout_ids": "--payout", "date_from": "--from", "date_to": "--to"}


class Command(BaseCommand):
    help = "Reconcile a tenant's payouts now (in the foreground) and print what was found."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> argparse.ArgumentParser:
        return super().create_parser(prog_name, subcommand, epilog=EXIT_STATUSES, **kwargs)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--tenant", required=True, help="the tenant's slug (or id)")
        parser.add_argument("--payout", action="append", default=[], help="a payout id or po_... (repeatable)")
        parser.add_argument("--connection", action="append", default=[], help="a connection id (repeatable)")
        parser.add_argument("--from", dest="date_from", type=_date, help="payouts arriving on or after (YYYY-MM-DD)")
        parser.add_argument("--to", dest="date_to", type=_date, help="payouts arriving on or before (YYYY-MM-DD)")

    def handle(self, *args: Any, **options: Any) -> None:
        from ecomops.tenancy import tenant_context
        from recon.models import RunStatus, RunTrigger
        from recon.services import recon_run_execute, recon_run_start

        try:
            tenant = command_tenant(options["tenant"])
        except CommandError as exc:
            raise CommandError(str(exc), returncode=EXIT_USAGE) from exc
        date_from, date_to = options["date_from"], options["date_to"]
        if date_from and date_to and date_from > date_to:
            raise CommandError(f"--to {date_to} is before --from {date_from}.", returncode=EXIT_USAGE)
        with tenant_context(tenant):
            try:
                run = recon_run_start(
                    trigger=RunTrigger.COMMAND,
                    connection_ids=options["connection"] or None,
                    payout_ids=options["payout"] or None,
                    date_from=date_from,
                    date_to=date_to,
                    enqueue=False,
                )
            except ServiceError as exc:  # refused before a run was recorded: the scope it was given
                option = OPTIONS.get(exc.field or "")
                message = f"{option}: {exc}" if option and option not in str(exc) else str(exc)
                raise CommandError(message, returncode=EXIT_USAGE) from exc
            run = recon_run_execute(run=run)
        mode = f" ({run.mode})" if run.mode else ""  # a run that failed before it began has none
        self.stdout.write(f"Run {run.pk}{mode}: {run.status} in {run.duration_ms or 0} ms")
        self.stdout.write(
            f"  payouts evaluated {run.payouts_evaluated}: reconciled {run.payouts_reconciled}, "
            f"with exceptions {run.payouts_with_exceptions}, pending {run.payouts_pending}; "
            f"lines {run.lines_evaluated}"
        )
        self.stdout.write(
            f"  exceptions opened {run.exceptions_opened}, updated {run.exceptions_updated}, "
            f"reopened {run.exceptions_reopened}, resolved (cause gone) {run.exceptions_auto_resolved}; "
            f"open in the tenant {run.open_exceptions}"
        )
        for reason, count in sorted(run.exceptions_by_reason.items()):
            self.stdout.write(f"    {reason}: {count}")
        if run.status == RunStatus.FAILED:
            raise CommandError(f"Run {run.pk} failed: {run.error_message}", returncode=EXIT_FAILED)
        if run.status == RunStatus.STALE:
            raise CommandError(f"Run {run.pk} ended stale: {run.stale_reason}", returncode=EXIT_STALE)
