"""Journal entry builder: one test per payout shape, asserting the exact lines."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from netsuite import jsonio
from netsuite.journal import (
    MAX_EXTERNAL_ID_LENGTH,
    GlMapping,
    JournalBuildError,
    PayoutSummary,
    UnbalancedEntryError,
    UnmappedAccountError,
    build_journal_entry,
    external_id_for,
    minor_to_decimal,
)

MAPPING = GlMapping(
    bank="101",
    clearing="110",
    processor_fees="601",
    refunds="401",
    chargebacks="602",
    dispute_fees="603",
    adjustments="604",
    reserves="120",
    fx_gain_loss="701",
    currency_ids={"USD": "1", "GBP": "2", "EUR": "4", "JPY": "5", "KWD": "9"},
)


def summary(**overrides: Any) -> PayoutSummary:
    base: dict[str, Any] = {
        "tenant_id": "tenant-42",
        "source": "stripe",
        "payout_id": "po_1PlainPayout",
        "currency": "USD",
        "arrival_date": date(2024, 5, 3),
        "subsidiary_id": "1",
        "amount_minor": 0,
    }
    base.update(overrides)
    return PayoutSummary(**base)


def lines(entry: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(account, 'D'/'C', amount as text) per line: text keeps the decimals visible."""
    out = []
    for item in entry["line"]["items"]:
        side = "D" if "debit" in item else "C"
        out.append((item["account"]["id"], side, str(item["debit" if side == "D" else "credit"])))
        assert ("debit" in item) != ("credit" in item)
    return out


def assert_balanced(entry: dict[str, Any]) -> None:
    items = entry["line"]["items"]
    assert sum(i.get("debit", Decimal(0)) for i in items) == sum(i.get("credit", Decimal(0)) for i in items)


def test_plain_payout() -> None:
    entry = build_journal_entry(
        summary(amount_minor=9680, gross_charges_minor=10000, processor_fees_minor=-320), MAPPING
    )
    assert lines(entry) == [("101", "D", "96.80"), ("110", "C", "100.00"), ("601", "D", "3.20")]
    assert entry["subsidiary"] == {"id": "1"}
    assert entry["currency"] == {"id": "1"}
    assert entry["tranDate"] == "2024-05-03"
    assert "po_1PlainPayout" in entry["memo"]
    assert entry["externalId"] == external_id_for("tenant-42", "stripe", "po_1PlainPayout")
    assert [i["memo"] for i in entry["line"]["items"]] == [
        "Payout to bank - stripe payout po_1PlainPayout",
        "Gross charges - stripe payout po_1PlainPayout",
        "Processor fees - stripe payout po_1PlainPayout",
    ]
    # On the wire: JSON numbers with the currency's decimals.
    wire = jsonio.dumps(entry).decode()
    assert '"debit":96.80' in wire
    assert '"credit":100.00' in wire
    assert '"debit":3.20' in wire


def test_payout_with_refunds() -> None:
    entry = build_journal_entry(
        summary(amount_minor=14390, gross_charges_minor=20000, refunds_minor=-5000, processor_fees_minor=-610), MAPPING
    )
    assert lines(entry) == [
        ("101", "D", "143.90"),
        ("110", "C", "200.00"),
        ("401", "D", "50.00"),
        ("601", "D", "6.10"),
    ]
    assert_balanced(entry)


def test_payout_with_lost_dispute() -> None:
    entry = build_journal_entry(
        summary(
            amount_minor=37020,
            gross_charges_minor=50000,
            processor_fees_minor=-1480,
            disputes_minor=-10000,
            dispute_fees_minor=-1500,
        ),
        MAPPING,
    )
    assert lines(entry) == [
        ("101", "D", "370.20"),
        ("110", "C", "500.00"),
        ("601", "D", "14.80"),
        ("602", "D", "100.00"),
        ("603", "D", "15.00"),
    ]
    assert_balanced(entry)


def test_payout_with_won_dispute_nets_to_zero_including_returned_fee() -> None:
    entry = build_journal_entry(
        summary(
            amount_minor=29100,
            gross_charges_minor=30000,
            processor_fees_minor=-900,
            disputes_minor=-10000,
            dispute_fees_minor=0,  # the 15.00 fee was charged and given back: the category nets to 0
            dispute_reversals_minor=10000,
        ),
        MAPPING,
    )
    assert lines(entry) == [
        ("101", "D", "291.00"),
        ("110", "C", "300.00"),
        ("601", "D", "9.00"),
        ("602", "D", "100.00"),
        ("602", "C", "100.00"),
    ]
    chargebacks = [i for i in entry["line"]["items"] if i["account"]["id"] == "602"]
    assert sum(i.get("debit", 0) - i.get("credit", 0) for i in chargebacks) == 0
    assert not [i for i in entry["line"]["items"] if i["account"]["id"] == "603"]


def test_payout_with_won_dispute_whose_fee_is_kept() -> None:
    entry = build_journal_entry(
        summary(
            amount_minor=27600,
            gross_charges_minor=30000,
            processor_fees_minor=-900,
            disputes_minor=-10000,
            dispute_fees_minor=-1500,
            dispute_reversals_minor=10000,
        ),
        MAPPING,
    )
    assert ("603", "D", "15.00") in lines(entry)
    assert_balanced(entry)


def test_multi_currency_settled_in_usd_with_fx_line() -> None:
    # EUR sales booked into clearing at 108.77 USD; the processor settled them at 108.50 USD.
    entry = build_journal_entry(
        summary(
            payout_id="po_1EurToUsd",
            amount_minor=10505,
            gross_charges_minor=10877,
            processor_fees_minor=-345,
            fx_difference_minor=-27,
        ),
        MAPPING,
    )
    assert lines(entry) == [
        ("101", "D", "105.05"),
        ("110", "C", "108.77"),
        ("601", "D", "3.45"),
        ("701", "D", "0.27"),
    ]
    assert entry["currency"] == {"id": "1"}  # the settlement currency, not EUR


def test_fx_gain_is_a_credit() -> None:
    entry = build_journal_entry(summary(amount_minor=10119, gross_charges_minor=10100, fx_difference_minor=19), MAPPING)
    assert lines(entry) == [("101", "D", "101.19"), ("110", "C", "101.00"), ("701", "C", "0.19")]


def test_fx_difference_without_fx_account_is_unmapped() -> None:
    mapping = GlMapping(**{**MAPPING.__dict__, "fx_gain_loss": None})
    with pytest.raises(UnmappedAccountError) as caught:
        build_journal_entry(summary(amount_minor=10505, gross_charges_minor=10532, fx_difference_minor=-27), mapping)
    assert caught.value.missing == ["fx_difference"]


def test_failed_payout_reversal() -> None:
    payout = summary(payout_id="po_1Failed", amount_minor=9680, gross_charges_minor=10000, processor_fees_minor=-320)
    reversal = summary(payout_id="po_1Failed", kind="reversal", amount_minor=-9680, payout_reversal_minor=-9680)
    entry = build_journal_entry(reversal, MAPPING)
    assert lines(entry) == [("101", "C", "96.80"), ("110", "D", "96.80")]
    assert "reversal of failed stripe payout po_1Failed" in entry["memo"]
    original_id = build_journal_entry(payout, MAPPING)["externalId"]
    assert entry["externalId"] != original_id  # the reversal never overwrites the original entry
    assert "-rev-" in entry["externalId"]


def test_next_payout_pays_out_the_returned_funds() -> None:
    entry = build_journal_entry(
        summary(payout_id="po_2", amount_minor=19680, gross_charges_minor=10000, payout_reversal_minor=9680), MAPPING
    )
    assert lines(entry) == [("101", "D", "196.80"), ("110", "C", "100.00"), ("110", "C", "96.80")]


def test_reserves_and_adjustments() -> None:
    entry = build_journal_entry(
        summary(
            amount_minor=8050,
            gross_charges_minor=10000,
            reserve_holds_minor=-2500,
            reserve_releases_minor=500,
            adjustments_minor=50,
        ),
        MAPPING,
    )
    assert lines(entry) == [
        ("101", "D", "80.50"),
        ("110", "C", "100.00"),
        ("604", "C", "0.50"),
        ("120", "D", "25.00"),
        ("120", "C", "5.00"),
    ]


def test_negative_payout_credits_the_bank() -> None:
    entry = build_journal_entry(summary(amount_minor=-1500, disputes_minor=-1500), MAPPING)
    assert lines(entry) == [("101", "C", "15.00"), ("602", "D", "15.00")]


def test_unbalanced_summary_raises_and_builds_nothing() -> None:
    with pytest.raises(UnbalancedEntryError) as caught:
        build_journal_entry(summary(amount_minor=9700, gross_charges_minor=10000, processor_fees_minor=-320), MAPPING)
    assert (caught.value.debits_minor, caught.value.credits_minor, caught.value.difference_minor) == (10020, 10000, 20)


def test_unmapped_accounts_named_by_category() -> None:
    mapping = GlMapping(bank="101", clearing="110", currency_ids={})
    with pytest.raises(UnmappedAccountError) as caught:
        build_journal_entry(
            summary(amount_minor=14390, gross_charges_minor=20000, refunds_minor=-5000, processor_fees_minor=-610),
            mapping,
        )
    assert caught.value.missing == ["refunds", "processor_fees", "currency:USD"]
    assert "refunds->refunds" in str(caught.value)


def test_all_zero_payout_is_refused() -> None:
    with pytest.raises(JournalBuildError):
        build_journal_entry(summary(amount_minor=0), MAPPING)


@pytest.mark.parametrize(
    ("currency", "minor", "text"),
    [("JPY", 10000, "10000"), ("USD", 10000, "100.00"), ("KWD", 1234, "1.234"), ("USD", 5, "0.05")],
)
def test_currency_exponents(currency: str, minor: int, text: str) -> None:
    entry = build_journal_entry(summary(currency=currency, amount_minor=minor, gross_charges_minor=minor), MAPPING)
    assert [str(i.get("debit", i.get("credit"))) for i in entry["line"]["items"]] == [text, text]


def test_processor_exponent_override() -> None:
    # Stripe sends ISK in two-decimal minor units although ISO 4217 says 0.
    assert minor_to_decimal(12300, 2) == Decimal("123.00")
    mapping = GlMapping(bank="101", clearing="110", currency_ids={"ISK": "7"})
    entry = build_journal_entry(
        summary(currency="ISK", currency_exponent=2, amount_minor=12300, gross_charges_minor=12300), mapping
    )
    assert str(entry["line"]["items"][0]["debit"]) == "123.00"


def test_float_amounts_are_refused() -> None:
    with pytest.raises(TypeError):
        build_journal_entry(summary(amount_minor=96.8, gross_charges_minor=96.8), MAPPING)  # type: ignore[arg-type]


def test_external_id_is_deterministic_short_and_case_safe() -> None:
    first = external_id_for("tenant-42", "stripe", "po_1AbC")
    assert first == external_id_for("tenant-42", "stripe", "po_1AbC")
    assert first.startswith("ecomops-stripe-")
    assert "po_1abc" in first
    assert first == first.lower()
    # NetSuite compares external ids case-insensitively; processor ids are case-sensitive.
    assert external_id_for("tenant-42", "stripe", "po_1abc").lower() != first.lower()
    assert external_id_for("tenant-43", "stripe", "po_1AbC") != first
    assert external_id_for("tenant-42", "shopify", "po_1AbC") != first
    long_id = external_id_for("tenant-42", "shopify", "gid://shopify/ShopifyPaymentsPayout/" + "9" * 120)
    assert len(long_id) == MAX_EXTERNAL_ID_LENGTH
    assert len(first) <= MAX_EXTERNAL_ID_LENGTH
    with pytest.raises(JournalBuildError):
        external_id_for("tenant-42", "paypal", "x")
