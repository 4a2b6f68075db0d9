"""A GL mapping checked against NetSuite before anything is posted with it: each id looked up
in the NetSuite sandbox over real HTTP (SuiteQL), what it names there kept on the mapping and
shown with the entries.

The sandbox's chart (netsuite.sandbox.store.SEED_ACCOUNTS): 101 is "1000 Operating Bank", 110
"1200 Undeposited Funds - Payments Clearing", 601 "6100 Merchant Processing Fees"; subsidiary 1
is "Parent Company"; currency 1 is USD, 2 GBP, 4 EUR, 5 JPY.
"""

from __future__ import annotations

import html

import httpx
import pytest

from audit.models import AuditEvent
from conftest import signed_in
from netsuite.models import GlMapping, NetsuitePosting, PostingKind
from netsuite.services import (
    gl_mapping_check,
    gl_mapping_update,
    posting_approve,
    posting_entry,
    posting_send,
    postings_after_recon,
)
from netsuite.tests.factories import PayoutSpec, reconcile, write_payouts

MAPPINGS = "/api/v1/netsuite/mappings/"


def _check_url(mapping: GlMapping) -> str:
    return f"{MAPPINGS}{mapping.pk}/check/"


def test_a_complete_mapping_is_found_in_netsuite_and_its_accounts_named(posting, api_as) -> None:  # type: ignore[no-untyped-def]
    client = api_as(posting.world.admin, posting.world.tenant)

    answer = client.post(_check_url(posting.mapping), format="json")

    assert answer.status_code == 200, answer.content
    check = answer.json()
    assert (check["ok"], check["problems"]) == (True, [])
    assert check["subsidiary"] == {
        "field": "subsidiary_id",
        "internal_id": "1",
        "status": "ok",
        "name": "Parent Company",
        "kind": "",
    }
    assert [(a["field"], a["internal_id"], a["status"], a["name"], a["kind"]) for a in check["accounts"]] == [
        ("bank_account", "101", "ok", "1000 Operating Bank", "Bank"),
        ("clearing_account", "110", "ok", "1200 Undeposited Funds - Payments Clearing", "OthCurrAsset"),
        ("processor_fees_account", "601", "ok", "6100 Merchant Processing Fees", "Expense"),
        ("refunds_account", "401", "ok", "4900 Sales Refunds", "Income"),
        ("chargebacks_account", "602", "ok", "6110 Chargebacks", "Expense"),
        ("dispute_fees_account", "603", "ok", "6120 Dispute Fees", "Expense"),
        ("adjustments_account", "604", "ok", "6130 Payment Processor Adjustments", "Expense"),
        ("reserves_account", "120", "ok", "1300 Processor Reserve Receivable", "OthCurrAsset"),
        ("fx_gain_loss_account", "701", "ok", "7100 Realized FX Gain/Loss", "OthExpense"),
    ]
    assert [(c["field"], c["internal_id"], c["status"], c["name"]) for c in check["currencies"]] == [
        ("currency_ids.EUR", "4", "ok", "EUR"),
        ("currency_ids.GBP", "2", "ok", "GBP"),
        ("currency_ids.JPY", "5", "ok", "JPY"),
        ("currency_ids.USD", "1", "ok", "USD"),
    ]
    # kept: the mapping says when, and the names are there for the entries
    read = client.get(f"{MAPPINGS}{posting.mapping.pk}/").json()
    assert read["checked_at"] == check["checked_at"]
    assert GlMapping.objects.get(pk=posting.mapping.pk).account_names()["110"] == (
        "1200 Undeposited Funds - Payments Clearing"
    )
    event = AuditEvent.objects.get(action="netsuite.gl_mapping_checked")
    assert (event.outcome, event.detail["problems"], event.actor_email) == ("success", [], "admin@acme.example.com")


def test_a_mistyped_a_deactivated_and_a_wrong_currency_id_are_each_named(posting, api_as) -> None:  # type: ignore[no-untyped-def]
    # the fee account's number typed instead of its internal id; the dispute fee account
    # deactivated in NetSuite since; EUR given GBP's id; no refunds account mapped yet
    gl_mapping_update(
        actor=posting.world.admin,
        mapping=posting.mapping,
        processor_fees_account="6100",
        refunds_account="",
        currency_ids={"USD": "1", "EUR": "2"},
    )
    posting.sandbox.app.store.deactivate("account", 603)

    check = api_as(posting.world.admin, posting.world.tenant).post(_check_url(posting.mapping)).json()

    assert check["ok"] is False
    assert check["problems"] == [
        "processor_fees_account 6100: NetSuite has no such record.",
        "dispute_fees_account 603 (6120 Dispute Fees) is inactive in NetSuite.",
        "currency_ids.EUR 2 is GBP in NetSuite, not EUR.",
    ]
    statuses = {a["field"]: a["status"] for a in check["accounts"]}
    assert (statuses["processor_fees_account"], statuses["refunds_account"]) == ("missing", "unmapped")
    assert statuses["dispute_fees_account"] == "inactive"
    assert statuses["bank_account"] == "ok"
    event = AuditEvent.objects.get(action="netsuite.gl_mapping_checked")
    assert event.detail["problems"] == check["problems"]


def test_a_subsidiary_netsuite_does_not_have_is_named(posting) -> None:  # type: ignore[no-untyped-def]
    gl_mapping_update(actor=posting.world.admin, mapping=posting.mapping, subsidiary_id="9")

    check = gl_mapping_check(actor=posting.world.admin, mapping=GlMapping.objects.get(pk=posting.mapping.pk))

    assert check.subsidiary.status == "missing"
    assert check.problems == ["subsidiary_id 9: NetSuite has no such record."]


def test_changing_the_mapping_forgets_the_check(posting) -> None:  # type: ignore[no-untyped-def]
    gl_mapping_check(actor=posting.world.admin, mapping=posting.mapping)
    assert GlMapping.objects.get(pk=posting.mapping.pk).checked_at is not None

    gl_mapping_update(actor=posting.world.admin, mapping=posting.mapping, bank_account="120")

    changed = GlMapping.objects.get(pk=posting.mapping.pk)
    assert (changed.checked_at, changed.last_check, changed.account_names()) == (None, {}, {})


def test_a_change_that_changes_nothing_keeps_the_check(posting) -> None:  # type: ignore[no-untyped-def]
    gl_mapping_check(actor=posting.world.admin, mapping=posting.mapping)

    gl_mapping_update(actor=posting.world.admin, mapping=posting.mapping, bank_account="101")  # as it was

    assert GlMapping.objects.get(pk=posting.mapping.pk).checked_at is not None


def test_after_a_check_the_entry_names_its_accounts_in_the_api_and_on_the_payout_page(posting, api_as) -> None:  # type: ignore[no-untyped-def]
    write_payouts(posting.stripe, PayoutSpec("po_named"))
    reconcile()
    postings_after_recon()
    draft = NetsuitePosting.objects.get(source_id="po_named", kind=PostingKind.PAYOUT)
    assert {line.account_name for line in posting_entry(posting=draft).lines} == {""}  # not checked yet

    gl_mapping_check(actor=posting.world.admin, mapping=posting.mapping)
    entry = api_as(posting.world.accountant, posting.world.tenant).get(f"/api/v1/postings/{draft.pk}/entry/").json()
    page = html.unescape(
        signed_in("accountant@acme.example.com").get(f"/recon/payouts/{draft.payout_id}/").content.decode()
    )

    assert [(line["account_id"], line["account_name"]) for line in entry["lines"]] == [
        ("101", "1000 Operating Bank"),
        ("110", "1200 Undeposited Funds - Payments Clearing"),
        ("601", "6100 Merchant Processing Fees"),
    ]
    assert '<td>1000 Operating Bank <span class="small muted">id 101 · bank account</span></td>' in page
    assert (
        '<td>6100 Merchant Processing Fees <span class="small muted">id 601 · processor fees account</span></td>'
    ) in page


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("admin", 200), ("accountant", 403), ("viewer", 403)])
def test_who_may_check_a_mapping(posting, api_as, role, status) -> None:  # type: ignore[no-untyped-def]
    answer = api_as(posting.world.user(role), posting.world.tenant).post(_check_url(posting.mapping))

    assert answer.status_code == status
    assert (GlMapping.objects.get(pk=posting.mapping.pk).checked_at is not None) == (status == 200)


def test_a_body_an_unknown_mapping_and_another_tenant_s_are_refused(posting, api_as, tenant_b) -> None:  # type: ignore[no-untyped-def]
    admin = api_as(posting.world.admin, posting.world.tenant)

    with_body = admin.post(_check_url(posting.mapping), {"accounts": ["101"]}, format="json")
    unknown = admin.post(f"{MAPPINGS}00000000-0000-0000-0000-000000000000/check/")
    elsewhere = api_as(tenant_b.owner, tenant_b.tenant).post(_check_url(posting.mapping))

    assert (with_body.status_code, "accounts" in with_body.json()) == (400, True)
    assert (unknown.status_code, elsewhere.status_code) == (404, 404)
    assert posting.sandbox.app.stats()["calls"].get("suiteql", 0) == 0  # nothing was asked of NetSuite
    assert GlMapping.objects.get(pk=posting.mapping.pk).checked_at is None


def test_a_failing_netsuite_is_a_502_that_keeps_nothing(posting, api_as) -> None:  # type: ignore[no-untyped-def]
    gl_mapping_check(actor=posting.world.admin, mapping=posting.mapping)
    kept = GlMapping.objects.get(pk=posting.mapping.pk).last_check
    httpx.post(f"{posting.sandbox.url}/__sandbox__/faults", json={"kind": "503", "count": 50}).raise_for_status()
    try:
        answer = api_as(posting.world.admin, posting.world.tenant).post(_check_url(posting.mapping))
    finally:
        httpx.delete(f"{posting.sandbox.url}/__sandbox__/faults").raise_for_status()

    assert answer.status_code == 502
    assert answer.json()["code"] == "netsuite_error"
    assert "503" in answer.json()["detail"]
    assert GlMapping.objects.get(pk=posting.mapping.pk).last_check == kept  # the last good check stays
    assert AuditEvent.objects.filter(action="netsuite.gl_mapping_checked", outcome="failure").count() == 1


def test_an_unusable_netsuite_connection_is_a_400_naming_it_without_its_secrets(posting, api_as) -> None:  # type: ignore[no-untyped-def]
    from connections.models import Connection

    connection = Connection.objects.get(pk=posting.netsuite.pk)
    connection.account_id = ""
    connection.save()

    answer = api_as(posting.world.admin, posting.world.tenant).post(_check_url(posting.mapping))

    assert answer.status_code == 400
    assert answer.json()["code"] == "netsuite_config"
    assert "needs an account id" in answer.json()["netsuite_connection"][0]
    assert posting.sandbox.app.stats()["calls"].get("suiteql", 0) == 0


def test_the_console_checks_the_selected_mappings_and_lists_what_it_found(posting) -> None:  # type: ignore[no-untyped-def]
    posting.sandbox.app.store.deactivate("account", 101)
    client = signed_in("admin@acme.example.com")

    response = client.post(
        "/admin/netsuite/glmapping/", {"action": "check_selected", "_selected_action": [str(posting.mapping.pk)]}
    )
    listing = html.unescape(client.get(response.url).content.decode())

    assert response.status_code == 302
    assert "Stripe / subsidiary 1: bank_account 101 (1000 Operating Bank) is inactive in NetSuite." in listing
    assert GlMapping.objects.get(pk=posting.mapping.pk).last_check["ok"] is False


def test_what_the_check_names_is_what_netsuite_would_refuse_the_entry_for(posting) -> None:  # type: ignore[no-untyped-def]
    # the fee account is deactivated in NetSuite after the mapping was made
    write_payouts(posting.stripe, PayoutSpec("po_inactive"))
    reconcile()
    postings_after_recon()
    draft = NetsuitePosting.objects.get(source_id="po_inactive", kind=PostingKind.PAYOUT)
    posting.sandbox.app.store.deactivate("account", 601)

    check = gl_mapping_check(actor=posting.world.admin, mapping=posting.mapping)
    approved = posting_approve(posting=draft, actor=posting.world.accountant)
    sent = posting_send(posting_id=approved.pk, client=posting.client())

    assert check.problems == ["processor_fees_account 601 (6100 Merchant Processing Fees) is inactive in NetSuite."]
    assert sent.state == "failed"
    assert "Invalid account reference key 601" in sent.last_error
    assert posting.sandbox.app.store.count_journals() == 0
