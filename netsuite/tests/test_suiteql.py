"""SuiteQL: read-only validation, paging, string values, order warnings, the row ceiling."""

from __future__ import annotations

import json

import httpx
import pytest

from netsuite.client import NetSuiteClient, NetSuiteError
from netsuite.suiteql import SuiteQLValidationError, validate_read_only

JE_QUERY = "SELECT id, tranid, trandate, memo FROM transaction WHERE recordtype = 'journalentry' ORDER BY id"


def test_dates_as_to_char_formats_them_and_an_unknown_format_is_refused(sandbox) -> None:  # type: ignore[no-untyped-def]
    from netsuite.errors import NetSuiteError
    from netsuite.tests.test_client import payout_entry

    entry = payout_entry(sandbox)
    with sandbox.client() as client:
        client.upsert_by_external_id("journalentry", entry["externalId"], entry)
        rows = client.suiteql(
            "SELECT TO_CHAR(t.trandate, 'YYYY-MM-DD') AS d, l.foreignamount AS amount FROM transaction t "
            f"JOIN transactionline l ON l.transaction = t.id WHERE t.externalid = '{entry['externalId']}' "
            "ORDER BY l.id"
        ).all()
        with pytest.raises(NetSuiteError) as refused:
            client.suiteql("SELECT TO_CHAR(trandate, 'Month DD') AS d FROM transaction").all()
    # each line in the entry's currency, debit positive: the bank, clearing, the fees
    assert rows == [{"d": entry["tranDate"], "amount": amount} for amount in ("96.8", "-100", "3.2")]
    assert (refused.value.status, "unsupported date format" in refused.value.detail) == (400, True)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id FROM account",
        "select id, acctnumber from account where isinactive = 'F' order by id",
        "WITH big AS (SELECT id FROM transaction WHERE id > 10) SELECT id FROM big ORDER BY id",
        "SELECT id FROM account UNION ALL SELECT id FROM subsidiary",
        "SELECT NVL(memo, 'none') AS memo, BUILTIN.DF(currency) FROM transaction WHERE ROWNUM <= 10",
    ],
)
def test_validate_read_only_accepts_selects(sql: str) -> None:
    assert validate_read_only(sql) == sql


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DELETE FROM transaction", "only SELECT queries are allowed, got DELETE"),
        ("SELECT 1; DROP TABLE x", "exactly one SELECT statement is allowed, got 2 (SELECT, DROP)"),
        ("INSERT INTO account (id) VALUES (1)", "only SELECT queries are allowed, got INSERT"),
        ("UPDATE account SET acctname = 'x'", "only SELECT queries are allowed, got UPDATE"),
        ("SELECT id INTO copy FROM account", "INTO is not allowed"),
        ("SELECT id FROM account FOR UPDATE", "LOCK is not allowed"),
        ("   ", "empty"),
        ("SELECT FROM WHERE (", "could not be parsed"),
        ("SELECT " + "(" * 3000 + "1" + ")" * 3000 + " FROM dual", "nested too deeply"),
    ],
)
def test_validate_read_only_refuses(sql: str, message: str) -> None:
    with pytest.raises(SuiteQLValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_read_only(sql)


def test_paging_2500_rows_in_three_requests(sandbox) -> None:  # type: ignore[no-untyped-def]
    ids = sandbox.app.store.seed_journal_entries(2500)
    with sandbox.client() as client:
        result = client.suiteql(JE_QUERY)
        assert sandbox.app.stats()["calls"].get("suiteql", 0) == 0  # lazy: nothing fetched yet
        rows = result.all()
    assert len(rows) == 2500
    assert [row["id"] for row in rows] == [str(i) for i in ids]
    assert result.pages_fetched == 3
    assert sandbox.app.stats()["calls"]["suiteql"] == 3
    assert result.total_results == 2500
    assert not result.truncated
    assert result.warnings == []
    assert rows[0] == {"id": str(ids[0]), "tranid": f"JE{ids[0]}", "trandate": "1/1/2024", "memo": "Seeded entry 0"}
    assert all(isinstance(v, str) for row in rows for v in row.values())
    pages = [x for x in sandbox.exchanges if x.operation == "suiteql"]
    assert [x.url.split("?")[1] for x in pages] == [
        "limit=1000&offset=0",
        "limit=1000&offset=1000",
        "limit=1000&offset=2000",
    ]
    assert pages[0].request_headers["prefer"] == "transient"
    assert json.loads(pages[0].request_body) == {"q": JE_QUERY}
    raw = json.loads(pages[0].response_body)
    assert raw["hasMore"] is True
    assert raw["count"] == 1000
    assert raw["items"][0]["links"] == []


def test_keys_lowercased_links_dropped_values_untouched(sandbox) -> None:  # type: ignore[no-untyped-def]
    with sandbox.client() as client:
        rows = client.suiteql("SELECT ID, AcctNumber, AcctType, Description FROM account ORDER BY id").all()
    assert rows[0] == {
        "id": "101",
        "acctnumber": "1000",
        "accttype": "Bank",
        "description": "EcomOps sandbox bank account",
    }
    currencies = {r["symbol"]: r for r in sandbox.client().suiteql("SELECT * FROM currency ORDER BY id")}
    assert currencies["GBP"]["exchangerate"] == "1.27"
    assert currencies["JPY"]["currencyprecision"] == "0"


def test_join_with_amounts_as_strings_and_nulls_omitted(sandbox) -> None:  # type: ignore[no-untyped-def]
    from netsuite.tests.test_client import payout_entry

    entry = payout_entry(sandbox)
    with sandbox.client() as client:
        client.upsert_by_external_id("journalentry", entry["externalId"], entry)
        rows = client.suiteql(
            "SELECT t.externalid, a.account, a.debit, a.credit FROM transaction t "
            "JOIN transactionaccountingline a ON a.transaction = t.id "
            f"WHERE t.externalid = '{entry['externalId']}' ORDER BY a.transactionline, t.id"
        ).all()
    assert rows == [
        {"externalid": entry["externalId"], "account": "101", "debit": "96.8"},
        {"externalid": entry["externalId"], "account": "110", "credit": "100"},
        {"externalid": entry["externalId"], "account": "601", "debit": "3.2"},
    ]


@pytest.mark.parametrize(
    ("sql", "warned"),
    [
        ("SELECT id FROM account", True),
        ("SELECT id FROM account ORDER BY acctnumber", True),
        ("SELECT id FROM account ORDER BY id DESC, acctnumber", True),
        ("SELECT id FROM account ORDER BY acctnumber, id", False),
        ("SELECT a.id FROM account a ORDER BY a.id", False),
    ],
)
def test_order_warning(sandbox, sql: str, warned: bool) -> None:  # type: ignore[no-untyped-def]
    with sandbox.client() as client:
        result = client.suiteql(sql)
        rows = result.all()
    assert len(rows) == 9
    assert bool(result.warnings) is warned
    if warned:
        assert "skipped or repeated" in result.warnings[0]


def test_row_ceiling_reported_not_silent(sandbox_factory) -> None:  # type: ignore[no-untyped-def]
    box = sandbox_factory(suiteql_row_ceiling=25)
    box.app.store.seed_journal_entries(60)
    with box.client() as client:
        result = client.suiteql(JE_QUERY, page_size=5, row_ceiling=25)
        rows = result.all()
    assert len(rows) == 25
    assert result.truncated is True
    assert "60" in (result.truncation_reason or "")
    assert "25" in (result.truncation_reason or "")
    assert result.pages_fetched == 5
    # The sandbox, like NetSuite, will not page past its ceiling.
    with box.client() as client, pytest.raises(NetSuiteError) as caught:
        client.suiteql(JE_QUERY, page_size=5, row_ceiling=1000).all()
    assert (caught.value.status, caught.value.code) == (400, "INVALID_PARAMETER")


def test_client_reports_the_100k_ceiling_from_total_results() -> None:
    requested: list[str] = []

    def fake_netsuite(request: httpx.Request) -> httpx.Response:
        requested.append(request.url.query.decode())
        offset = int(request.url.params["offset"])
        limit = int(request.url.params["limit"])
        items = [{"links": [], "id": str(offset + i)} for i in range(limit)]
        page = {"links": [], "count": limit, "hasMore": True, "items": items, "offset": offset, "totalResults": 150_000}
        return httpx.Response(200, json=page)

    client = NetSuiteClient("http://127.0.0.1:1", "X", httpx.Auth(), transport=httpx.MockTransport(fake_netsuite))
    with client:
        result = client.suiteql("SELECT id FROM transaction ORDER BY id")
        first = next(result)
        assert first == {"id": "0"}
        assert result.truncated is True
        assert "150000" in (result.truncation_reason or "")
        assert "100000" in (result.truncation_reason or "")
        small = client.suiteql("SELECT id FROM transaction ORDER BY id", row_ceiling=3000)
        assert len(small.all()) == 3000
    assert requested[-1] == "limit=1000&offset=2000"  # never asks for offset 3000


def test_max_rows_stops_early_and_says_so(sandbox) -> None:  # type: ignore[no-untyped-def]
    sandbox.app.store.seed_journal_entries(30)
    with sandbox.client() as client:
        result = client.suiteql(JE_QUERY, page_size=10, max_rows=10)
        assert len(result.all()) == 10
    assert result.truncated
    assert "max_rows=10" in (result.truncation_reason or "")
    assert result.pages_fetched == 1


def test_unknown_table_is_netsuite_search_error(sandbox) -> None:  # type: ignore[no-untyped-def]
    with sandbox.client() as client, pytest.raises(NetSuiteError) as caught:
        client.suiteql("SELECT id FROM sqlite_master ORDER BY id").all()
    assert caught.value.code == "INVALID_PARAMETER"
    assert "Record 'sqlite_master' was not found" in caught.value.detail
    assert sandbox.app.stats()["calls"]["suiteql"] == 1  # a 400 is not retried


def test_sandbox_refuses_writes_and_missing_prefer_header(sandbox) -> None:  # type: ignore[no-untyped-def]
    auth = sandbox.credentials.tba_auth()
    url = f"{sandbox.url}/services/rest/query/v1/suiteql?limit=10&offset=0"
    with httpx.Client(auth=auth) as http:
        no_prefer = http.post(url, json={"q": "SELECT id FROM account"})
        write = http.post(url, json={"q": "DELETE FROM account"}, headers={"Prefer": "transient"})
    assert no_prefer.status_code == 400
    assert write.status_code == 400
    assert write.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_PARAMETER"
    assert sandbox.app.store.row("account", 101) is not None


def test_page_size_bounds() -> None:
    client = NetSuiteClient("http://127.0.0.1:1", "X", httpx.Auth())
    with client, pytest.raises(ValueError, match="page_size"):
        client.suiteql("SELECT id FROM account", page_size=1001)
