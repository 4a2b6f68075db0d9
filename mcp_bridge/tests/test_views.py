"""The Schedules page: each schedule in words with its last run, a form whose refusals sit next
to their fields, and each row's Enable, Disable and Run now for the roles allowed (htmx answers
the row, a plain form post is sent back to the page)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from conftest import signed_in
from connections.tests.factories import ConnectionFactory
from mcp_bridge.models import Schedule
from mcp_bridge.services import schedule_create, schedule_run_now
from recon.models import ReconRun

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
PAGE = "/schedules/"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def schedules(tenant_a, tenant_b, in_tenant):
    with in_tenant(tenant_b.tenant):
        ConnectionFactory(name="Stripe B")
        schedule_create(actor=tenant_b.owner, kind="recon.run", every_hours=5, now=T0)
    with in_tenant(tenant_a.tenant):
        stripe = ConnectionFactory(name="Stripe EU")
        recon = schedule_create(actor=tenant_a.owner, kind="recon.run", every_hours=6, now=T0)
        sync = schedule_create(
            actor=tenant_a.owner,
            kind="sync",
            daily_at="06:00",
            time_zone="Europe/Berlin",
            connection_ids=[str(stripe.pk)],
            now=T0,
        )
        schedule_run_now(schedule=recon, actor=tenant_a.owner)
    return {"recon": recon, "sync": sync}


def _text(response) -> str:
    return response.content.decode()


def test_the_page_lists_the_tenants_schedules_in_words_with_their_last_run(tenant_a, schedules, in_tenant):
    page = signed_in("owner@acme.example.com").get(PAGE)

    assert page.status_code == 200
    text = _text(page)
    assert "Daily at 06:00 Europe/Berlin" in text
    assert "Every 6 hours" in text
    assert "Every 5 hours" not in text  # the other tenant's
    assert "of Stripe EU" in text
    assert "2026-06-02 04:00" in text  # the daily one's next run, 06:00 in Berlin
    assert "2026-06-02 06:00 Europe/Berlin" in text  # and on its own clock, as it was set
    with in_tenant(tenant_a.tenant):
        run = ReconRun.objects.get(pk=Schedule.objects.get(pk=schedules["recon"].pk).last_recon_run_id)
    assert f"reconciliation run {str(run.pk)[:8]}" in text
    assert 'href="/recon/#runs"' in text
    assert 'href="/schedules/"' in text  # the navigation links to the page


def test_create_through_the_form_and_the_page_says_so(tenant_a, in_tenant):
    browser = signed_in("admin@acme.example.com")

    created = browser.post(
        f"{PAGE}new/", {"kind": "recon.run", "cadence": "daily", "daily_at": "06:30", "time_zone": "America/New_York"}
    )

    assert (created.status_code, created["Location"]) == (302, PAGE)
    with in_tenant(tenant_a.tenant):
        schedule = Schedule.objects.get()
    assert (schedule.when, schedule.created_by_email) == ("daily at 06:30 America/New_York", "admin@acme.example.com")
    assert "Scheduled: Reconciliation run, daily at 06:30 America/New_York." in _text(browser.get(PAGE))


@pytest.mark.parametrize(
    ("form", "field", "says"),
    [
        ({"cadence": "daily", "daily_at": "06:00", "time_zone": "Mars/Olympus"}, "time_zone", "not a known IANA"),
        ({"cadence": "daily", "daily_at": "", "time_zone": "UTC"}, "daily_at", "is not a time of day"),
        ({"cadence": "every", "every_hours": "200"}, "every_hours", "from 1 to 168"),
        ({"cadence": "every", "every_hours": "six"}, "every_hours", "from 1 to 168"),
    ],
)
def test_a_refused_form_shows_the_error_next_to_its_field_and_keeps_what_was_typed(
    tenant_a, in_tenant, form, field, says
):
    answer = signed_in("owner@acme.example.com").post(f"{PAGE}new/", {"kind": "recon.run", **form})

    assert answer.status_code == 400
    text = _text(answer)
    errors = answer.context["form"].errors
    assert list(errors) == [field]
    assert says in errors[field][0]
    # the error follows its own field's input, before any other field's
    after_field = text[text.index(f'name="{field}"') :]
    between = after_field[: after_field.index('class="errorlist')]
    assert "<input" not in between
    assert "<select" not in between
    assert says in after_field[len(between) :][:400]
    typed = form.get(field)
    if typed:
        assert f'value="{typed}"' in text
    with in_tenant(tenant_a.tenant):
        assert not Schedule.objects.exists()


def test_a_role_that_may_not_start_syncs_is_refused_a_sync_schedule_next_to_the_kind(tenant_a, in_tenant):
    from django.contrib.auth.models import Group, Permission

    Group.objects.get(name="admin").permissions.remove(  # still adds schedules, no longer syncs
        Permission.objects.get(content_type__app_label="connections", codename="sync_connection")
    )

    answer = signed_in("admin@acme.example.com").post(
        f"{PAGE}new/", {"kind": "sync", "cadence": "every", "every_hours": "2"}
    )

    assert answer.status_code == 400
    assert answer.context["form"].errors == {
        "kind": [
            "Your role in this tenant does not allow starting a sync (needs connections.sync_connection), "
            "which this schedule would start."
        ]
    }
    assert 'value="2"' in _text(answer)  # what was typed is kept
    with in_tenant(tenant_a.tenant):
        assert not Schedule.objects.exists()


def test_an_htmx_disable_answers_the_row_with_the_outcome_taking_the_focus(tenant_a, schedules, in_tenant):
    pk = schedules["recon"].pk

    row = signed_in("admin@acme.example.com").post(f"{PAGE}{pk}/disable/", **HTMX)

    assert row.status_code == 200
    text = _text(row)
    assert text.startswith(f'<tr id="schedule-{pk}"')
    assert 'role="status" tabindex="-1" autofocus>Disabled: it will not run until it is enabled again.' in text
    assert ">Enable</button>" in text
    with in_tenant(tenant_a.tenant):
        assert Schedule.objects.get(pk=pk).enabled is False


def test_a_plain_post_runs_now_and_is_sent_back_to_the_page_with_the_outcome(tenant_a, schedules, in_tenant):
    browser = signed_in("accountant@acme.example.com")
    pk = schedules["recon"].pk

    ran = browser.post(f"{PAGE}{pk}/run/")

    assert (ran.status_code, ran["Location"]) == (302, PAGE)
    assert "Run now: a reconciliation run is queued." in _text(browser.get(PAGE))
    with in_tenant(tenant_a.tenant):
        run = ReconRun.objects.get(pk=Schedule.objects.get(pk=pk).last_recon_run_id)
    assert run.requested_by_email == "accountant@acme.example.com"


def test_a_run_that_queues_nothing_says_why_in_the_row(tenant_a, schedules, in_tenant):
    with in_tenant(tenant_a.tenant):
        from connections.models import Connection

        Connection.objects.filter(name="Stripe EU").update(enabled=False)

    row = signed_in("owner@acme.example.com").post(f"{PAGE}{schedules['sync'].pk}/run/", **HTMX)

    text = _text(row)
    assert 'role="alert" tabindex="-1" autofocus>Queued nothing: Connection Stripe EU' in text
    assert "Failed" in text


def test_an_accountant_sees_the_schedules_but_no_form_and_only_the_runs_it_may_start(schedules):
    text = _text(signed_in("accountant@acme.example.com").get(PAGE))

    assert "Every 6 hours" in text
    assert "New schedule" not in text
    assert ">Disable</button>" not in text
    assert ">Enable</button>" not in text
    assert text.count(">Run now</button>") == 1  # the recon one; syncing is not the accountant's


def test_an_accountant_is_refused_disabling_creating_and_running_a_sync(tenant_a, schedules, in_tenant):
    browser = signed_in("accountant@acme.example.com")

    answers = [
        browser.post(f"{PAGE}{schedules['recon'].pk}/disable/", **HTMX),
        browser.post(f"{PAGE}new/", {"kind": "recon.run", "cadence": "every", "every_hours": "2"}),
        browser.post(f"{PAGE}{schedules['sync'].pk}/run/", **HTMX),
    ]

    assert [a.status_code for a in answers] == [403, 403, 403]
    with in_tenant(tenant_a.tenant):
        assert Schedule.objects.count() == 2
        assert Schedule.objects.get(pk=schedules["recon"].pk).enabled is True
        assert Schedule.objects.get(pk=schedules["sync"].pk).last_run_at is None


def test_run_now_refused_says_which_permission_it_needs(tenant_a, schedules, in_tenant):
    """A Run now the row no longer offers (the page is older than the role) is refused in words
    that name the permission: on the 403 page, and as the text the page shows over the list."""
    browser = signed_in("accountant@acme.example.com")
    url = f"{PAGE}{schedules['sync'].pk}/run/"
    says = (
        "Your role in this tenant does not allow starting a sync (needs connections.sync_connection), "
        "which this schedule would start."
    )

    page = browser.post(url)
    row = browser.post(url, **HTMX)

    assert page.status_code == 403
    assert says in _text(page)
    assert "does not allow this page" not in _text(page)
    assert (row.status_code, row["Content-Type"], _text(row)) == (403, "text/plain; charset=utf-8", says)
    with in_tenant(tenant_a.tenant):
        assert Schedule.objects.get(pk=schedules["sync"].pk).last_run_at is None


def test_a_viewer_gets_403_and_no_link_in_the_navigation(schedules):
    browser = signed_in("viewer@acme.example.com")

    assert browser.get(PAGE).status_code == 403
    assert 'href="/schedules/"' not in _text(browser.get("/recon/"))


def test_another_tenants_schedule_is_a_404_from_the_page(tenant_b, in_tenant, schedules):
    with in_tenant(tenant_b.tenant):
        theirs = Schedule.objects.get()

    answer = signed_in("owner@acme.example.com").post(f"{PAGE}{theirs.pk}/disable/", **HTMX)

    assert answer.status_code == 404
    with in_tenant(tenant_b.tenant):
        assert Schedule.objects.get().enabled is True
