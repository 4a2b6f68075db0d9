"""The console: GL mappings edited through the services' rules; postings read-only, approved
and retried by the roles that may."""

from __future__ import annotations

from django.test import Client

from audit.models import AuditEvent
from conftest import PASSWORD
from netsuite.models import GlMapping, NetsuitePosting, PostingState
from netsuite.services import postings_after_recon
from netsuite.tests.factories import PayoutSpec, reconcile, write_payouts


def signed_in(email: str) -> Client:
    client = Client()
    assert client.post("/login/", {"email": email, "password": PASSWORD}).status_code == 302
    return client


def draft(posting) -> NetsuitePosting:  # type: ignore[no-untyped-def]
    write_payouts(posting.stripe, PayoutSpec("po_console"))
    reconcile()
    postings_after_recon()
    return NetsuitePosting.objects.get(source_id="po_console")


def mapping_form(posting, shop, **overrides) -> dict:  # type: ignore[no-untyped-def]
    form = {
        "connection": str(shop.pk),
        "netsuite_connection": str(posting.netsuite.pk),
        "subsidiary_id": "2",
        "bank_account": "101",
        "clearing_account": "110",
        "processor_fees_account": "",
        "refunds_account": "",
        "chargebacks_account": "",
        "dispute_fees_account": "",
        "adjustments_account": "",
        "reserves_account": "",
        "fx_gain_loss_account": "",
        "currency_ids": '{"usd": "1"}',
    }
    form.update(overrides)
    return form


def shop_connection():  # type: ignore[no-untyped-def]
    from connections.services import connection_create

    return connection_create(actor=None, name="Shop", provider="shopify", credentials={"access_token": "shpat_x"})


def test_admin_adds_a_mapping_through_the_service(posting) -> None:  # type: ignore[no-untyped-def]
    shop = shop_connection()
    client = signed_in("admin@acme.example.com")

    response = client.post("/admin/netsuite/glmapping/add/", mapping_form(posting, shop))

    assert response.status_code == 302, response.content.decode()[:2000]
    created = GlMapping.objects.get(connection=shop)
    assert (created.subsidiary_id, created.bank_account, created.currency_ids) == ("2", "101", {"USD": "1"})
    assert AuditEvent.objects.filter(action="netsuite.gl_mapping_created", target_id=str(created.pk)).exists()


def test_admin_form_refuses_what_the_service_refuses(posting) -> None:  # type: ignore[no-untyped-def]
    shop = shop_connection()
    client = signed_in("admin@acme.example.com")

    response = client.post("/admin/netsuite/glmapping/add/", mapping_form(posting, shop, bank_account="12a"))

    assert response.status_code == 200
    assert "is not a NetSuite internal id" in response.content.decode()
    assert not GlMapping.objects.filter(connection=shop).exists()


def test_admin_changes_a_mapping(posting) -> None:  # type: ignore[no-untyped-def]
    client = signed_in("admin@acme.example.com")
    form = mapping_form(posting, posting.stripe, subsidiary_id="1", refunds_account="402")
    form.pop("connection")  # shown, not editable

    response = client.post(f"/admin/netsuite/glmapping/{posting.mapping.pk}/change/", form)

    assert response.status_code == 302, response.content.decode()[:2000]
    posting.mapping.refresh_from_db()
    assert posting.mapping.refunds_account == "402"
    assert AuditEvent.objects.filter(action="netsuite.gl_mapping_updated").exists()


def test_viewer_cannot_change_a_mapping(posting) -> None:  # type: ignore[no-untyped-def]
    client = signed_in("viewer@acme.example.com")

    page = client.get(f"/admin/netsuite/glmapping/{posting.mapping.pk}/change/")
    response = client.post(
        f"/admin/netsuite/glmapping/{posting.mapping.pk}/change/",
        mapping_form(posting, posting.stripe, subsidiary_id="1", bank_account="999"),
    )

    assert page.status_code == 200  # read-only view
    assert response.status_code == 403
    posting.mapping.refresh_from_db()
    assert posting.mapping.bank_account == "101"


def test_accountant_approves_from_the_console(posting) -> None:  # type: ignore[no-untyped-def]
    pending = draft(posting)
    client = signed_in("accountant@acme.example.com")
    assert "po_console" in client.get("/admin/netsuite/netsuiteposting/").content.decode()

    response = client.post(
        "/admin/netsuite/netsuiteposting/", {"action": "approve_selected", "_selected_action": [str(pending.pk)]}
    )

    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.state == PostingState.APPROVED
    assert pending.approved_by_email == "accountant@acme.example.com"
    # the payout's id as the processor writes it (the admin capitalizes a message's first letter)
    assert "Payout po_console: approved, queued for posting." in client.get(response.url).content.decode()


def test_viewer_has_no_approve_action_and_postings_are_read_only(posting) -> None:  # type: ignore[no-untyped-def]
    pending = draft(posting)
    client = signed_in("viewer@acme.example.com")

    listing = client.get("/admin/netsuite/netsuiteposting/").content.decode()
    client.post(
        "/admin/netsuite/netsuiteposting/", {"action": "approve_selected", "_selected_action": [str(pending.pk)]}
    )

    assert "approve_selected" not in listing
    pending.refresh_from_db()
    assert pending.state == PostingState.DRAFT
    assert client.get("/admin/netsuite/netsuiteposting/add/").status_code == 403


def test_admin_retries_a_failed_posting(posting) -> None:  # type: ignore[no-untyped-def]
    failed = draft(posting)
    NetsuitePosting.objects.filter(pk=failed.pk).update(state=PostingState.FAILED, last_error="NetSuite 503")
    client = signed_in("admin@acme.example.com")

    client.post("/admin/netsuite/netsuiteposting/", {"action": "retry_selected", "_selected_action": [str(failed.pk)]})

    failed.refresh_from_db()
    assert failed.state == PostingState.APPROVED
