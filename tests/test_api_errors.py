"""Whatever goes wrong under /api/ is answered in JSON with the right status: unknown paths,
missing slashes, methods a view does not answer, bodies too large, and failures."""

from __future__ import annotations

import pytest


def test_a_path_that_names_no_endpoint_is_a_json_404(api_as, tenant_a):
    client = api_as(tenant_a.owner, tenant_a.tenant)

    unknown = client.get("/api/v1/bogus/")
    bad_id = client.get("/api/v1/users/-1/")
    no_slash = client.post("/api/v1/recon/runs", {}, format="json")
    elsewhere = client.get("/api/v2/recon/runs/")

    for response in (unknown, bad_id, no_slash, elsewhere):
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert response.json()["code"] == "not_found"
    assert no_slash.json()["detail"] == (
        "No API endpoint at /api/v1/recon/runs. API paths end with a slash: /api/v1/recon/runs/"
    )
    assert "slash" not in unknown.json()["detail"]


def test_a_post_to_a_mistyped_path_is_answered_like_any_other_not_a_csrf_page(api_as, tenant_a):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)  # as curl or any integrator calls it
    client.credentials(HTTP_AUTHORIZATION=api_as(tenant_a.owner, tenant_a.tenant)._credentials["HTTP_AUTHORIZATION"])

    response = client.post("/api/v1/recon/runs", {}, format="json")

    assert (response.status_code, response.json()["code"]) == (404, "not_found")


def test_a_missing_object_is_not_found_without_naming_its_model(api_as, tenant_a):
    response = api_as(tenant_a.owner, tenant_a.tenant).get(
        "/api/v1/recon/exceptions/00000000-0000-0000-0000-000000000000/"
    )

    assert (response.status_code, response.json()) == (404, {"detail": "Not found."})


def test_a_method_a_view_does_not_answer_is_405_and_head_and_options_read(api_as, tenant_a):
    owner = api_as(tenant_a.owner, tenant_a.tenant)
    viewer = api_as(tenant_a.viewer, tenant_a.tenant)

    get_bulk = owner.get("/api/v1/recon/exceptions/bulk/")
    delete_runs = owner.delete("/api/v1/recon/runs/")
    head = viewer.head("/api/v1/recon/exceptions/")
    options = viewer.options("/api/v1/recon/exceptions/")
    post_as_viewer = viewer.post("/api/v1/recon/runs/", {}, format="json")

    assert (get_bulk.status_code, get_bulk["Allow"]) == (405, "POST, OPTIONS")
    assert delete_runs.status_code == 405
    assert head.status_code == 200
    assert (options.status_code, options.json()["name"]) == (200, "Exception List")
    assert post_as_viewer.status_code == 403  # a method the view answers, not for this role


def test_a_body_over_the_limit_is_a_json_413(api_as, tenant_a, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
    client = api_as(tenant_a.owner, tenant_a.tenant)

    response = client.post(
        "/api/v1/recon/exceptions/bulk/", '{"note": "' + "x" * 2_000_000 + '"}', content_type="application/json"
    )

    assert response.status_code == 413
    assert response.json() == {
        "detail": "The request body is larger than the 1 MB this API accepts.",
        "code": "too_large",
    }


def test_a_failure_is_a_json_500_with_its_correlation_id_and_no_request_values(
    api_as, tenant_a, in_tenant, monkeypatch, caplog
):
    # Fault injection (a monkeypatch), because no real input makes this service fail: the
    # update writes the new name, then fails; the answer is what is checked.
    from connections import services

    with in_tenant(tenant_a.tenant):
        connection = services.connection_create(
            actor=tenant_a.admin, name="Stripe", provider="stripe", credentials={"api_key": "sk_test_Kept_1234"}
        )
    update = services.connection_update

    def failing_update(**kwargs):
        update(**kwargs)
        raise RuntimeError("the disk is full")

    monkeypatch.setattr("connections.api.views.services.connection_update", failing_update)
    client = api_as(tenant_a.admin, tenant_a.tenant)

    response = client.patch(
        f"/api/v1/connections/{connection.pk}/",
        {"name": "Renamed", "credentials": {"api_key": "sk_test_NewSecret_9876"}},
        format="json",
        HTTP_X_CORRELATION_ID="req-500-check",
    )

    assert response.status_code == 500
    assert response.json()["code"] == "server_error"
    assert response.json()["correlation_id"] == "req-500-check"
    assert "NewSecret" not in response.content.decode()
    assert "disk is full" not in response.content.decode()
    assert any("api_unhandled_error" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("path", ["/api/v1/health/", "/api/v1/recon/runs/"])
def test_answered_paths_are_not_caught_by_the_catch_all(api_as, tenant_a, path):
    assert api_as(tenant_a.owner, tenant_a.tenant).get(path).status_code == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"page_size": "abc"}, "page_size"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "-1"}, "page_size"),
        ({"page_size": "5000"}, "page_size"),
        ({"page": "abc"}, "page"),
        ({"page": "-2"}, "page"),
    ],
)
def test_a_page_size_or_number_out_of_range_is_a_400_naming_it(api_as, tenant_a, query, field):
    response = api_as(tenant_a.owner, tenant_a.tenant).get("/api/v1/audit/", query)

    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]


def test_a_page_in_range_is_served_and_one_past_the_last_is_a_404(api_as, tenant_a):
    client = api_as(tenant_a.owner, tenant_a.tenant)

    first = client.get("/api/v1/audit/", {"page_size": "1000"})
    last = client.get("/api/v1/audit/", {"page": "last"})
    beyond = client.get("/api/v1/audit/", {"page": "999"})

    assert (first.status_code, last.status_code) == (200, 200)
    assert beyond.status_code == 404


@pytest.mark.parametrize(
    ("path", "low", "high", "earlier", "later"),
    [
        ("/api/v1/audit/", "created_after", "created_before", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"),
        ("/api/v1/postings/", "arrival_after", "arrival_before", "2026-01-01", "2026-02-01"),
        ("/api/v1/tables/payouts/", "arrival_after", "arrival_before", "2026-01-01", "2026-02-01"),
        ("/api/v1/tables/payments/", "created_after", "created_before", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"),
        ("/api/v1/recon/exceptions/", "date_from", "date_to", "2026-01-01", "2026-02-01"),
        ("/api/v1/recon/exceptions/", "seen_after", "seen_before", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"),
        ("/api/v1/recon/runs/", "queued_after", "queued_before", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"),
        ("/api/v1/recon/payouts/", "arrival_from", "arrival_to", "2026-01-01", "2026-02-01"),
    ],
)
def test_a_reversed_range_is_a_400_naming_its_end_not_an_empty_list(api_as, tenant_a, path, low, high, earlier, later):
    client = api_as(tenant_a.owner, tenant_a.tenant)

    reversed_range = client.get(path, {low: later, high: earlier})
    in_order = client.get(path, {low: earlier, high: later})

    assert reversed_range.status_code == 400, reversed_range.content
    assert reversed_range.json() == {high: [f"{high} is before {low}."]}
    assert in_order.status_code == 200, in_order.content


@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_a_body_nested_too_deeply_is_a_400_and_starts_nothing(api_as, tenant_a, in_tenant, depth):
    from recon.models import ReconRun

    body = '{"payout_ids": ' + "[" * depth + "]" * depth + "}"

    response = api_as(tenant_a.owner, tenant_a.tenant).post(
        "/api/v1/recon/runs/", body, content_type="application/json"
    )

    assert response.status_code == 400, response.content
    assert response.json() == {"detail": "JSON parse error - the body is nested too deeply."}
    with in_tenant(tenant_a.tenant):
        assert not ReconRun.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        r'{"name": "Acme \ud800 Ltd"}',  # a high surrogate with no low one after it
        r'{"name": "Acme \udc00"}',  # a low surrogate with no high one before it
        r'{"name": "Acme", "\ud800": 1}',  # in a key
    ],
)
def test_a_lone_surrogate_escape_is_a_400_and_changes_nothing(api_as, tenant_a, body):
    from tenants.models import Tenant

    response = api_as(tenant_a.owner, tenant_a.tenant).patch(
        "/api/v1/tenants/current/", body, content_type="application/json"
    )

    assert response.status_code == 400, response.content
    assert response.json() == {
        "detail": "JSON parse error - the body holds a lone surrogate escape (\\ud800-\\udfff), "
        "which is not a character."
    }
    assert Tenant.objects.get(pk=tenant_a.tenant.pk).name == "Acme Ltd"


def test_a_surrogate_pair_is_one_character_and_is_stored(api_as, tenant_a):
    from tenants.models import Tenant

    response = api_as(tenant_a.owner, tenant_a.tenant).patch(
        "/api/v1/tenants/current/", r'{"name": "Acme \ud83d\ude00"}', content_type="application/json"
    )

    assert response.status_code == 200, response.content
    assert Tenant.objects.get(pk=tenant_a.tenant.pk).name == "Acme \U0001f600"


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("host", ["elsewhere.example", "a\x00b", "x" * 300])
def test_a_host_not_served_is_a_json_400_under_the_api_and_django_s_page_elsewhere(
    api_as, tenant_a, settings, host, debug
):
    settings.DEBUG = debug  # with DEBUG on, Django's page would list the request's headers
    client = api_as(tenant_a.owner, tenant_a.tenant)

    api = client.get("/api/v1/recon/runs/", HTTP_HOST=host)
    page = client.get("/login/", HTTP_HOST=host)

    assert (api.status_code, api["Content-Type"]) == (400, "application/json")
    assert api.json() == {"detail": "The Host header names no site this server answers for.", "code": "bad_request"}
    assert "Bearer" not in api.content.decode()
    assert (page.status_code, page["Content-Type"]) == (400, "text/html; charset=utf-8")


def test_with_debug_on_a_404_raised_before_the_view_is_the_api_s_json_404(api_as, tenant_a, monkeypatch, settings):
    # Fault injection (a monkeypatch): no middleware of the project raises a 404 today; one
    # that did would get Django's debug page, which lists the request's headers.
    from django.http import Http404
    from rest_framework.test import APIClient

    def not_there(request):
        raise Http404("no tenant at secret-host")

    settings.DEBUG = True
    monkeypatch.setattr("ecomops.middleware.resolve_tenant", not_there)
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=api_as(tenant_a.owner, tenant_a.tenant)._credentials["HTTP_AUTHORIZATION"])

    api = client.get("/api/v1/recon/runs/", HTTP_ACCEPT="text/html")

    assert (api.status_code, api["Content-Type"]) == (404, "application/json")
    assert api.json() == {"detail": "Not found.", "code": "not_found"}


def test_a_failure_before_the_view_is_a_json_500_under_the_api(api_as, tenant_a, monkeypatch):
    # Fault injection (a monkeypatch): no real input makes the middleware fail any more.
    from rest_framework.test import APIClient

    def failing_resolve(request):
        raise RuntimeError("the database went away")

    monkeypatch.setattr("ecomops.middleware.resolve_tenant", failing_resolve)
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=api_as(tenant_a.owner, tenant_a.tenant)._credentials["HTTP_AUTHORIZATION"])

    api = client.get("/api/v1/recon/runs/", HTTP_X_CORRELATION_ID="req-mw-500")
    page = client.get("/login/")

    assert (api.status_code, api["Content-Type"]) == (500, "application/json")
    assert api.json() == {
        "detail": "The server failed to complete the request. Quote the correlation id when you report it.",
        "code": "server_error",
        "correlation_id": "req-mw-500",
    }
    assert "went away" not in api.content.decode()
    assert (page.status_code, page["Content-Type"]) == (500, "text/html; charset=utf-8")


SERVER_ERROR = {
    "detail": "The server failed to complete the request. Quote the correlation id when you report it.",
    "code": "server_error",
}


def _fail_in(where: str, monkeypatch) -> str:
    """Make one part of a request fail (fault injection: no real input makes these fail), and
    answer the path that reaches it."""

    def failing(*args, **kwargs):
        raise RuntimeError("the database went away: password=sk_live_Leaked_42")

    if where == "middleware":  # before any view: the tenant's middleware
        monkeypatch.setattr("ecomops.middleware.resolve_tenant", failing)
        return "/api/v1/recon/runs/"
    if where == "view":  # a view of the API that is no DRF view: the catch-all's
        monkeypatch.setattr("ecomops.api.not_found.resolve", failing)
        return "/api/v1/no-such-endpoint"
    monkeypatch.setattr("recon.api.views.selectors.recon_run_list", failing)  # inside a DRF view
    return "/api/v1/recon/runs/"


@pytest.mark.parametrize("where", ["middleware", "view", "drf_view"])
@pytest.mark.parametrize("accept", ["application/json", "text/html", "*/*"])
def test_with_debug_on_a_failure_under_the_api_is_still_its_json_500_without_the_traceback(
    api_as, tenant_a, monkeypatch, settings, where, accept
):
    from rest_framework.test import APIClient

    settings.DEBUG = True  # as `make run` serves: Django would answer its debug page
    path = _fail_in(where, monkeypatch)
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=api_as(tenant_a.owner, tenant_a.tenant)._credentials["HTTP_AUTHORIZATION"])

    response = client.get(path, HTTP_ACCEPT=accept, HTTP_X_CORRELATION_ID="req-debug-500")

    assert (response.status_code, response["Content-Type"]) == (500, "application/json")
    assert response.json() == {**SERVER_ERROR, "correlation_id": "req-debug-500"}
    assert response["X-Correlation-ID"] == "req-debug-500"
    for leak in ("went away", "Leaked", "Traceback", "RuntimeError", "Bearer"):
        assert leak not in response.content.decode()


def test_with_debug_on_pages_keep_django_s_debug_page(tenant_a, monkeypatch, settings):
    from django.test import Client

    settings.DEBUG = True
    _fail_in("middleware", monkeypatch)

    page = Client(raise_request_exception=False).get("/login/")

    assert (page.status_code, page["Content-Type"]) == (500, "text/html; charset=utf-8")
    assert "RuntimeError" in page.content.decode()  # the developer's page, outside the API
