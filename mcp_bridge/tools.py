"""The MCP tools: thin adapters over the apps' selectors and services, as the API views are.

Each tool takes the parameters the pipeline (``mcp_bridge.governance``) let through, calls
one selector or service with the user, and returns plain data. Nothing here decides a
business rule: explaining a payout, filtering exceptions, starting a run, checking SuiteQL
and writing CSV are the apps' own code.
"""

from __future__ import annotations

from typing import Any

from mcp_bridge.governance import RowLimit, Tool, ToolCall, bad_param
from recon import selectors as recon_selectors
from recon import services as recon_services

# --------------------------------------------------------------------------- recon.explain_payout


def explain_payout(call: ToolCall) -> dict[str, Any]:
    reference = call.params["payout"]
    payouts = recon_services.resolve_payouts([reference], field="payout")
    if len(payouts) > 1:  # one source id from two accounts
        choices = ", ".join(f"{p.pk} ({p.connection.name})" for p in payouts)
        raise bad_param("payout", f"{reference} names {len(payouts)} payouts; give one of their ids: {choices}.")
    return recon_selectors.payout_explain(user=call.user, payout_id=payouts[0].pk, line_limit=call.params["line_limit"])


# --------------------------------------------------------------------------- the list

_LIMIT = {"type": "integer", "minimum": 1, "description": "At most this many rows (default and ceiling: see settings)."}

TOOLS = [
    Tool(
        name="recon.explain_payout",
        description=(
            "Why a payout does or does not add up: its lines, what each matched, the checks it fails, its "
            "exceptions and the difference (amounts in minor units)."
        ),
        run=explain_payout,
        properties={
            "payout": {"type": "string", "description": "The payout's id or its processor id (po_..., a Shopify GID)."},
            "line_limit": {"type": "integer", "minimum": 1, "description": "At most this many lines listed."},
        },
        required=("payout",),
        permissions=("recon.view_reconpayout",),
        row_limit=RowLimit(param="line_limit"),
    ),
]
