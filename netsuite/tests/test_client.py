"""Record operations, retries, lost answers and capture, against the sandbox over real HTTP."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from netsuite.auth import ClientCredentialsAuth, TbaCredentials, TokenBasedAuth
from netsuite.client import (
    NetSuiteClient,
    NetSuiteError,
    NetSuiteTransportError,
    OutcomeUnknownError,
    RetryPolicy,
    may_have_been_applied,
    parse_location_id,
)
from netsuite.errors import NetSuiteProtocolError
from netsuite.journal import GlMapping, PayoutSummary, build_journal_entry


def mapping_for(sandbox: Any) -> GlMapping:
    ids = sandbox.credentials.gl_mapping_ids()
    return GlMapping(**ids, currency_ids=sandbox.credentials.currency_ids())


def payout_entry(sandbox: Any, payout_id: str = "po_1Test", amount: int = 9680, memo_hint: str = "") -> dict[str, Any]:
    entry = build_journal_entry(
        PayoutSummary(
            tenant_id="t1",
            source="stripe",
            payout_id=payout_id,
            currency="USD",
            arrival_date=date(2024, 5, 3),
            subsidiary_id="1",
            amount_minor=amount,
            gross_charges_minor=amount + 320,
            processor_fees_minor=-320,
        ),
        mapping_for(sandbox),
    )
    if memo_hint:
        entry["memo"] += memo_hint
    return entry


def inject(sandbox: Any, **fault: Any) -> None:
    httpx.post(f"{sandbox.url}/__sandbox__/faults", json=fault).raise_for_status()


def test_create_returns_id_from_location(sandbox) -> None:  # type: ignore[no-untyped-def]
    with sandbox.client() as client:
        entry_id = client.create("journalentry", payout_entry(sandbox))
        record = client.get("journalentry", entry_id, expand_sub_resources=True)
    assert entry_id.isdigit()
    assert record["id"] == entry_id
    assert record["tranId"] == f"JE{entry_id}"
    assert record["trandate"] == "2024-05-03"
    assert record["subsidiary"]["id"] == "1"
    assert record["subsidiary"]["refName"] == "Parent Company"
    items = record["line"]["items"]
    assert [(i["account"]["id"], i.get("debit"), i.get("credit")) for i in items] == [
        ("101", Decimal("96.8"), None),
        ("110", None, Decimal("100.0")),
        ("601", Decimal("3.2"), None),
    ]
    create = next(x for x in sandbox.exchanges if x.operation == "journalentry.create")
    assert create.status == 204
    assert create.response_headers["location"].endswith(f"/services/rest/record/v1/journalentry/{entry_id}")


def test_get_without_expand_has_only_sublist_links(sandbox) -> None:  # type: ignore[no-untyped-def]
    with sandbox.client() as client:
        entry_id = client.create("journalentry", payout_entry(sandbox))
        record = client.get("journalentry", entry_id)
    assert set(record["line"]) == {"links"}


def test_upsert_twice_same_external_id_one_record(sandbox) -> None:  # type: ignore[no-untyped-def]
    entry = payout_entry(sandbox)
    with sandbox.client() as client:
        first = client.upsert_by_external_id("journalentry", entry["externalId"], entry, replace=("line",))
        changed = payout_entry(sandbox, memo_hint=" (corrected)")
        second = client.upsert_by_external_id("journalentry", entry["externalId"], changed, replace=("line",))
        by_eid = client.get("journalentry", f"eid:{entry['externalId']}")
    assert first == second
    assert sandbox.app.store.count_journals() == 1
    assert by_eid["id"] == first
    assert by_eid["memo"].endswith("(corrected)")
    assert sandbox.app.stats()["calls"]["journalentry.upsert"] == 2


def entry_lines(client, external_id: str) -> list[tuple]:  # type: ignore[no-untyped-def, type-arg]
    items = client.get("journalentry", f"eid:{external_id}", expand_sub_resources=True)["line"]["items"]
    return [(i["account"]["id"], i.get("debit"), i.get("credit")) for i in items]


def test_an_update_appends_lines_unless_it_replaces_them_like_netsuite(sandbox) -> None:  # type: ignore[no-untyped-def]
    # 96.80 to the bank: Dr 101 96.80, Cr 110 100.00, Dr 601 3.20
    entry = payout_entry(sandbox)
    original = [("101", Decimal("96.8"), None), ("110", None, Decimal("100.0")), ("601", Decimal("3.2"), None)]
    with sandbox.client() as client:
        client.upsert_by_external_id("journalentry", entry["externalId"], entry, replace=("line",))
        assert entry_lines(client, entry["externalId"]) == original

        client.upsert_by_external_id("journalentry", entry["externalId"], entry)  # no replace: appended
        assert entry_lines(client, entry["externalId"]) == original + original

        client.upsert_by_external_id("journalentry", entry["externalId"], entry, replace=("line",))
        assert entry_lines(client, entry["externalId"]) == original
    assert [e.url.endswith("?replace=line") for e in sandbox.exchanges if e.method == "PUT"] == [True, False, True]
    assert sandbox.app.store.count_journals() == 1


def test_external_ids_match_case_insensitively_like_netsuite(sandbox) -> None:  # type: ignore[no-untyped-def]
    entry = payout_entry(sandbox)
    with sandbox.client() as client:
        first = client.upsert_by_external_id("journalentry", entry["externalId"], entry)
        entry["externalId"] = entry["externalId"].upper()
        second = client.upsert_by_external_id("journalentry", entry["externalId"], entry)
    assert first == second
    assert sandbox.app.store.count_journals() == 1


def test_storm_of_429s_ends_in_success_within_budget(sandbox) -> None:  # type: ignore[no-untyped-def]
    inject(sandbox, kind="429", count=5)
    entry = payout_entry(sandbox)
    slept: list[float] = []
    with sandbox.client(sleep=slept.append) as client:
        entry_id = client.upsert_by_external_id("journalentry", entry["externalId"], entry)
    assert entry_id
    assert len(slept) == 5
    # Full jitter: every sleep within [0, base * 2**(n-1)] capped.
    assert all(0 <= s <= min(0.05, 0.005 * 2**n) for n, s in enumerate(slept))
    statuses = [x.status for x in sandbox.exchanges]
    assert statuses == [429] * 5 + [204]
    body = json.loads(sandbox.exchanges[0].response_body)
    assert body["o:errorDetails"][0]["o:errorCode"] == "CONCURRENCY_LIMIT_EXCEEDED"
    assert sandbox.app.store.count_journals() == 1


def test_storm_longer_than_budget_raises_the_throttle_error(sandbox) -> None:  # type: ignore[no-untyped-def]
    inject(sandbox, kind="429", count=50)
    policy = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.01, budget_seconds=5)
    with sandbox.client(retry_budget=policy) as client, pytest.raises(NetSuiteError) as caught:
        client.get("account", "101")
    assert caught.value.code == "CONCURRENCY_LIMIT_EXCEEDED"
    assert caught.value.status == 429
    assert caught.value.attempts == 4
    assert sandbox.app.faults.faults_served == 4


def test_time_budget_stops_retrying(sandbox) -> None:  # type: ignore[no-untyped-def]
    inject(sandbox, kind="503", count=50)
    policy = RetryPolicy(max_attempts=100, base_delay=1.0, max_delay=1.0, budget_seconds=0.5)
    slept: list[float] = []

    class AlwaysMax:
        def uniform(self, a: float, b: float) -> float:
            return b

    client = sandbox.client(retry_budget=policy, sleep=slept.append, rng=AlwaysMax())
    with client, pytest.raises(NetSuiteError) as caught:
        client.get("account", "101")
    assert caught.value.status == 503
    assert slept == []  # the first 1s backoff would already overrun the 0.5s budget


def test_5xx_retried_then_success(sandbox) -> None:  # type: ignore[no-untyped-def]
    inject(sandbox, kind="500", count=1)
    inject(sandbox, kind="502", count=1)
    with sandbox.client() as client:
        assert client.get("currency", "2")["symbol"] == "GBP"
    assert [x.status for x in sandbox.exchanges] == [500, 502, 200]


def test_validation_error_not_retried(sandbox) -> None:  # type: ignore[no-untyped-def]
    entry = payout_entry(sandbox)
    entry["line"]["items"][0]["account"] = {"id": "9999"}
    with sandbox.client() as client, pytest.raises(NetSuiteError) as caught:
        client.upsert_by_external_id("journalentry", entry["externalId"], entry)
    error = caught.value
    assert (error.status, error.code) == (400, "INVALID_KEY_OR_REF")
    assert error.path == "line.items[0].account"
    assert error.detail == "Invalid account reference key 9999."
    assert error.attempts == 1
    assert sandbox.app.stats()["calls"]["journalentry.upsert"] == 1
    assert sandbox.app.faults.requests_seen == 1


def test_unbalanced_entry_refused_by_sandbox_not_retried(sandbox) -> None:  # type: ignore[no-untyped-def]
    entry = payout_entry(sandbox)
    entry["line"]["items"][0]["debit"] = Decimal("96.79")  # bypassing the builder's own check
    with sandbox.client() as client, pytest.raises(NetSuiteError) as caught:
        client.create("journalentry", entry)
    assert (caught.value.status, caught.value.code) == (400, "USER_ERROR")
    assert "must equal the total of credit" in caught.value.detail
    assert sandbox.app.stats()["calls"]["journalentry.create"] == 1
    assert sandbox.app.store.count_journals() == 0


@pytest.mark.parametrize(
    ("patch", "code", "path"),
    [
        ({"subsidiary": {"id": "77"}}, "INVALID_KEY_OR_REF", "subsidiary"),
        ({"currency": {"id": "77"}}, "INVALID_KEY_OR_REF", "currency"),
        ({"subsidiary": None}, "USER_ERROR", "subsidiary"),
        ({"line": {"items": []}}, "USER_ERROR", None),
    ],
)
def test_other_validation_errors(sandbox, patch: dict[str, Any], code: str, path: str | None) -> None:  # type: ignore[no-untyped-def]
    entry = {**payout_entry(sandbox), **patch}
    with sandbox.client() as client, pytest.raises(NetSuiteError) as caught:
        client.create("journalentry", entry)
    assert (caught.value.status, caught.value.code, caught.value.path) == (400, code, path)


def test_lost_response_on_upsert_is_retried_and_leaves_one_entry(sandbox) -> None:  # type: ignore[no-untyped-def]
    inject(sandbox, kind="drop_after_commit", count=1)
    entry = payout_entry(sandbox)
    with sandbox.client() as client:
        entry_id = client.upsert_by_external_id("journalentry", entry["externalId"], entry)
    assert sandbox.app.stats()["calls"]["journalentry.upsert"] == 2  # committed, lost, repeated
    assert sandbox.app.store.count_journals() == 1
    assert sandbox.app.store.journal_id_for_external_id(entry["externalId"]) == int(entry_id)
    first, second = sandbox.exchanges
    assert first.status is None
    assert "RemoteProtocolError" in (first.error or "")
    assert second.status == 204


def test_lost_response_on_create_is_not_retried(sandbox) -> None:  # type: ignore[no-untyped-def]
    inject(sandbox, kind="drop_after_commit", count=1)
    with sandbox.client() as client, pytest.raises(OutcomeUnknownError):
        client.create("journalentry", payout_entry(sandbox))
    # The create was committed before the connection dropped: a retry would have made two.
    assert sandbox.app.stats()["calls"]["journalentry.create"] == 1
    assert sandbox.app.store.count_journals() == 1


def test_garbled_answer_retried_for_reads(sandbox) -> None:  # type: ignore[no-untyped-def]
    inject(sandbox, kind="malformed", count=1)
    with sandbox.client() as client:
        assert client.get("account", "110")["acctnumber"] == "1200"
    assert sandbox.app.stats()["calls"]["account.get"] == 2


def test_garbled_answer_to_create_is_outcome_unknown(sandbox) -> None:  # type: ignore[no-untyped-def]
    inject(sandbox, kind="malformed", count=1)
    with sandbox.client() as client, pytest.raises(OutcomeUnknownError):
        client.create("journalentry", payout_entry(sandbox))


def test_connection_refused_is_retried_even_for_create(sandbox) -> None:  # type: ignore[no-untyped-def]
    # Nothing listens on a closed port: the request never left, so a create may be retried.
    with httpx.Client() as probe:
        del probe
    policy = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002, budget_seconds=2)
    client = NetSuiteClient("http://127.0.0.1:9", "X", sandbox.credentials.tba_auth(), retry_budget=policy)
    attempts: list[Any] = []
    client.on_exchange = attempts.append
    with client, pytest.raises(NetSuiteTransportError):
        client.create("journalentry", {"memo": "x"})
    assert len(attempts) == 3


def test_which_attempts_may_have_been_applied(sandbox) -> None:  # type: ignore[no-untyped-def]
    entry = payout_entry(sandbox)
    inject(sandbox, kind="drop_after_commit", count=1)  # applied, no answer
    inject(sandbox, kind="429", count=1)  # NetSuite refused before doing anything
    with sandbox.client() as client:
        client.upsert_by_external_id("journalentry", entry["externalId"], entry)
        with pytest.raises(NetSuiteError):
            client.upsert_by_external_id("journalentry", entry["externalId"], {**entry, "subsidiary": {"id": "999"}})
    dropped, throttled, written, refused = sandbox.exchanges
    assert [e.status for e in sandbox.exchanges] == [None, 429, 204, 400]
    assert [may_have_been_applied(e) for e in (dropped, throttled, written, refused)] == [True, False, True, False]

    # Nothing listens on a closed port: the request never left.
    never_sent: list[Any] = []
    policy = RetryPolicy(max_attempts=1, base_delay=0.001, max_delay=0.002, budget_seconds=2)
    closed = NetSuiteClient("http://127.0.0.1:9", "X", sandbox.credentials.tba_auth(), retry_budget=policy)
    closed.on_exchange = never_sent.append
    with closed, pytest.raises(NetSuiteTransportError):
        closed.upsert_by_external_id("journalentry", entry["externalId"], entry)
    assert not may_have_been_applied(never_sent[0])


def test_a_gateway_error_may_have_been_applied_but_not_netsuite_s_own() -> None:
    from netsuite.redact import Exchange

    def answered(status: int, body: str) -> Exchange:
        return Exchange("journalentry.upsert", 1, "PUT", "https://x/", {}, "{}", status=status, response_body=body)

    assert may_have_been_applied(answered(502, "<html>Bad Gateway</html>"))
    assert may_have_been_applied(answered(504, ""))
    netsuite_own = json.dumps(
        {"type": "x", "title": "Bad Gateway", "status": 502, "o:errorDetails": [{"detail": "d", "o:errorCode": "E"}]}
    )
    assert not may_have_been_applied(answered(502, netsuite_own))
    assert not may_have_been_applied(answered(500, netsuite_own))


def test_request_timeout(sandbox) -> None:  # type: ignore[no-untyped-def]
    inject(sandbox, kind="slow", count=5, delay_ms=400)
    policy = RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.002, budget_seconds=5)
    with sandbox.client(timeout=0.1, retry_budget=policy) as client:
        with pytest.raises(NetSuiteTransportError, match="ReadTimeout"):
            client.get("account", "101")
        with pytest.raises(OutcomeUnknownError, match="ReadTimeout"):
            client.create("journalentry", payout_entry(sandbox))


def test_captured_exchanges_carry_no_secrets(sandbox) -> None:  # type: ignore[no-untyped-def]
    captured: list[Any] = []
    tba = sandbox.client(on_exchange=captured.append)
    oauth = sandbox.client(
        auth=sandbox.credentials.client_credentials_auth(sandbox.url, on_exchange=captured.append),
        on_exchange=captured.append,
    )
    entry = payout_entry(sandbox)
    with tba, oauth:
        tba.upsert_by_external_id("journalentry", entry["externalId"], entry)
        oauth.get("journalentry", f"eid:{entry['externalId']}")
    dumped = json.dumps([x.to_dict() for x in captured])
    creds = sandbox.credentials
    for secret in (creds.consumer_key, creds.consumer_secret, creds.token_id, creds.token_secret, creds.client_id):
        assert secret not in dumped
    assert "oauth_signature" not in dumped
    assert "eyJ" not in dumped
    token_exchange = next(x for x in captured if x.operation == "oauth2.token")
    assert "client_assertion=[REDACTED]" in token_exchange.request_body
    assert "client_assertion_type=urn" in token_exchange.request_body
    assert json.loads(token_exchange.response_body)["access_token"] == "[REDACTED]"
    upsert = next(x for x in captured if x.operation == "journalentry.upsert")
    assert upsert.request_headers["authorization"] == "OAuth [REDACTED]"
    assert json.loads(upsert.request_body)["externalId"] == entry["externalId"]  # the evidence stays


def test_parse_location_id() -> None:
    assert (
        parse_location_id("https://demo123.suitetalk.api.netsuite.com/services/rest/record/v1/customer/647", "customer")
        == "647"
    )
    with pytest.raises(NetSuiteProtocolError):
        parse_location_id(None, "journalentry")
    with pytest.raises(NetSuiteProtocolError):
        parse_location_id("https://x/services/rest/record/v1/customer/647", "journalentry")


def test_unknown_record_id_is_404(sandbox) -> None:  # type: ignore[no-untyped-def]
    with sandbox.client() as client, pytest.raises(NetSuiteError) as caught:
        client.get("journalentry", "424242")
    assert (caught.value.status, caught.value.code) == (404, "NONEXISTENT_ID")


# ------------------------------------------------------------ answers that quote the credentials

QUOTED = TbaCredentials("1234567_SB1", "ck-quoted-0001", "cs-quoted-0002", "ti-quoted-0003", "ts-quoted-0004")


def quoting_client(answer: Any, **options: Any) -> NetSuiteClient:
    """A TBA client whose 'NetSuite' is a gateway that quotes what it was sent."""
    options.setdefault("retry_budget", RetryPolicy(max_attempts=1))
    return NetSuiteClient(
        "http://127.0.0.1:1", "1234567_SB1", TokenBasedAuth(QUOTED), transport=httpx.MockTransport(answer), **options
    )


def test_an_error_body_quoting_the_credentials_keeps_them_out_of_the_error_and_the_exchange() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        detail = f"Invalid login attempt with {request.headers['authorization']}; token ti-quoted-0003 revoked"
        body = {"title": "Unauthorized", "status": 401, "o:errorDetails": [{"detail": detail, "o:errorCode": "X"}]}
        return httpx.Response(401, json=body)

    captured: list[Any] = []
    with quoting_client(answer, on_exchange=captured.append) as client, pytest.raises(NetSuiteError) as refused:
        client.get("account", "101")

    assert refused.value.detail == "Invalid login attempt with [REDACTED]; token [REDACTED] revoked"
    assert str(refused.value) == (
        "NetSuite 401 X: Invalid login attempt with [REDACTED]; token [REDACTED] revoked (GET "
        "/services/rest/record/v1/account/101)"
    )
    stored = json.dumps([captured[0].to_dict(), refused.value.body])
    for secret in ("ck-quoted-0001", "ti-quoted-0003", "oauth_signature="):
        assert secret not in stored
    assert "Invalid login attempt with [REDACTED]" in captured[0].response_body  # the evidence stays


def test_a_garbled_answer_quoting_the_request_keeps_the_credentials_out_of_the_error() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        # h11 quotes the bytes it could not parse; a broken proxy may send the request back.
        raise httpx.RemoteProtocolError(f"illegal status line: b'Authorization: {request.headers['authorization']}'")

    captured: list[Any] = []
    with quoting_client(answer, on_exchange=captured.append) as client:
        with pytest.raises(NetSuiteTransportError) as lost_read:
            client.get("account", "101")
        with pytest.raises(OutcomeUnknownError) as lost_write:
            client.create("journalentry", {"memo": "x"})

    for error in (str(lost_read.value), str(lost_write.value), *(e.error for e in captured)):
        assert error.endswith("RemoteProtocolError: illegal status line: b'Authorization: [REDACTED]'"), error
    assert len(captured) == 2


def test_a_token_endpoint_quoting_the_assertion_keeps_it_out_of_the_error(sandbox) -> None:  # type: ignore[no-untyped-def]
    from urllib.parse import parse_qs

    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        assertion = parse_qs(request.content.decode())["client_assertion"][0]
        sent.append(assertion)
        return httpx.Response(400, json={"error": "invalid_grant", "error_description": f"bad {assertion}"})

    captured: list[Any] = []
    auth = ClientCredentialsAuth.for_base_url(
        "http://127.0.0.1:1",
        "client-quoted-0005",
        "cert-quoted-0006",
        sandbox.credentials.private_key_pem,
        transport=httpx.MockTransport(answer),
        on_exchange=captured.append,
    )
    with pytest.raises(NetSuiteError) as refused:
        auth.fetch_token()

    assert (refused.value.code, refused.value.detail) == ("invalid_grant", "bad [REDACTED]")
    assert sent[0] not in json.dumps(captured[0].to_dict())
    assert json.loads(captured[0].response_body)["error_description"] == "bad [REDACTED]"


def test_a_read_answered_with_garbage_every_time_raises_the_public_protocol_error() -> None:
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200, content=b"<html>maintenance</html>", headers={"Content-Type": "text/html"})

    policy = RetryPolicy(max_attempts=3, base_delay=0, max_delay=0)
    with quoting_client(answer, retry_budget=policy) as client, pytest.raises(NetSuiteProtocolError) as garbled:
        client.get("account", "101")

    assert type(garbled.value) is NetSuiteProtocolError  # not the client's internal retry marker
    assert len(calls) == 3  # a read is safe to repeat: every attempt was made
    assert str(garbled.value).startswith("GET /services/rest/record/v1/account/101: unparseable JSON from NetSuite")
    assert str(garbled.value).endswith("(after 3 attempts)")
    assert garbled.value.__cause__ is None
    assert garbled.value.__suppress_context__
