"""The NetSuite sandbox's records, in SQLite.

The sandbox imitates NetSuite; this is its storage, not the product's database. One
SQLite connection (a file or ``:memory:``) guarded by a lock, so the threaded HTTP server
can share it. The tables are named and shaped like the SuiteQL records they stand for
(``account``, ``subsidiary``, ``currency``, ``transaction``, ``transactionline``,
``transactionaccountingline``) so SuiteQL can run against them after light translation.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

# SuiteQL shows dates in the account's date format (the recorded data: "5/11/2020"). The
# store keeps ISO dates, so ORDER BY sorts right, and formats them on the way out.
SUITEQL_DATE_TYPE = "NSDATE"


def _format_ns_date(raw: bytes) -> str:
    text = raw.decode()
    try:
        day = date.fromisoformat(text[:10])
    except ValueError:
        return text
    return f"{day.month}/{day.day}/{day.year}"


sqlite3.register_converter(SUITEQL_DATE_TYPE, _format_ns_date)

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS currency (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, symbol TEXT NOT NULL, currencyprecision INTEGER NOT NULL,
    exchangerate REAL NOT NULL, isbasecurrency TEXT NOT NULL, isinactive TEXT NOT NULL DEFAULT 'F'
);
CREATE TABLE IF NOT EXISTS subsidiary (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, legalname TEXT, country TEXT, currency INTEGER NOT NULL,
    parent INTEGER, iselimination TEXT NOT NULL DEFAULT 'F', isinactive TEXT NOT NULL DEFAULT 'F'
);
CREATE TABLE IF NOT EXISTS account (
    id INTEGER PRIMARY KEY, acctnumber TEXT, acctname TEXT NOT NULL, accountsearchdisplayname TEXT,
    accttype TEXT NOT NULL, currency INTEGER, description TEXT, subsidiary INTEGER,
    isinactive TEXT NOT NULL DEFAULT 'F'
);
CREATE TABLE IF NOT EXISTS "transaction" (
    id INTEGER PRIMARY KEY, tranid TEXT NOT NULL, trandate {SUITEQL_DATE_TYPE} NOT NULL, type TEXT NOT NULL,
    recordtype TEXT NOT NULL, memo TEXT, externalid TEXT, currency INTEGER NOT NULL, subsidiary INTEGER NOT NULL,
    exchangerate REAL NOT NULL DEFAULT 1, approved TEXT NOT NULL DEFAULT 'T', posting TEXT NOT NULL DEFAULT 'T',
    createddate {SUITEQL_DATE_TYPE} NOT NULL, lastmodifieddate {SUITEQL_DATE_TYPE} NOT NULL,
    created_at TEXT NOT NULL, modified_at TEXT NOT NULL
);
-- "transaction" is an SQLite keyword, hence the quotes. NetSuite compares external ids
-- case-insensitively: so does the uniqueness here.
CREATE UNIQUE INDEX IF NOT EXISTS transaction_externalid
    ON "transaction" (recordtype, lower(externalid)) WHERE externalid IS NOT NULL;
-- foreignamount: the line in the transaction's currency, debit positive, credit negative.
CREATE TABLE IF NOT EXISTS transactionline (
    "transaction" INTEGER NOT NULL, id INTEGER NOT NULL, linesequencenumber INTEGER NOT NULL,
    memo TEXT, subsidiary INTEGER NOT NULL, mainline TEXT NOT NULL DEFAULT 'F', foreignamount NUMERIC,
    PRIMARY KEY ("transaction", id)
);
CREATE TABLE IF NOT EXISTS transactionaccountingline (
    "transaction" INTEGER NOT NULL, transactionline INTEGER NOT NULL, account INTEGER NOT NULL,
    debit NUMERIC, credit NUMERIC, amount NUMERIC NOT NULL, posting TEXT NOT NULL DEFAULT 'T',
    PRIMARY KEY ("transaction", transactionline)
);
"""

SUITEQL_TABLES = frozenset(
    {"account", "subsidiary", "currency", "transaction", "transactionline", "transactionaccountingline"}
)

# (id, name, symbol, precision, rate to USD, base). Ids 1 and 2 as in the recorded sandbox.
SEED_CURRENCIES: tuple[tuple[int, str, str, int, float, str], ...] = (
    (1, "USA", "USD", 2, 1.0, "T"),
    (2, "British pound", "GBP", 2, 1.27, "F"),
    (4, "Euro", "EUR", 2, 1.08, "F"),
    (5, "Japanese Yen", "JPY", 0, 0.0067, "F"),
)
SEED_SUBSIDIARIES: tuple[tuple[int, str, str, str, int, int | None], ...] = (
    (1, "Parent Company", "EcomOps Demo Inc.", "US", 1, None),
    (2, "Europe B.V.", "EcomOps Demo Europe B.V.", "NL", 4, 1),
)
# role -> (id, number, name, type). Roles are the GL mapping's account names.
SEED_ACCOUNTS: dict[str, tuple[int, str, str, str]] = {
    "bank": (101, "1000", "Operating Bank", "Bank"),
    "clearing": (110, "1200", "Undeposited Funds - Payments Clearing", "OthCurrAsset"),
    "reserves": (120, "1300", "Processor Reserve Receivable", "OthCurrAsset"),
    "refunds": (401, "4900", "Sales Refunds", "Income"),
    "processor_fees": (601, "6100", "Merchant Processing Fees", "Expense"),
    "chargebacks": (602, "6110", "Chargebacks", "Expense"),
    "dispute_fees": (603, "6120", "Dispute Fees", "Expense"),
    "adjustments": (604, "6130", "Payment Processor Adjustments", "Expense"),
    "fx_gain_loss": (701, "7100", "Realized FX Gain/Loss", "OthExpense"),
}
SEED_CURRENCY_IDS: dict[str, str] = {symbol: str(cid) for cid, _n, symbol, *_rest in SEED_CURRENCIES}
FIRST_TRANSACTION_ID = 1001


@dataclass(frozen=True)
class StoredLine:
    """A journal line as stored: account id, exact amounts, memo."""

    account_id: int
    debit: Decimal | None
    credit: Decimal | None
    memo: str | None


@dataclass(frozen=True)
class StoredJournal:
    """The header fields of a stored journal entry plus its lines."""

    id: int
    tranid: str
    trandate: str  # ISO
    memo: str | None
    externalid: str | None
    currency: int
    subsidiary: int
    created_at: str
    modified_at: str
    lines: tuple[StoredLine, ...]


def _net(line: StoredLine) -> Decimal:
    return (line.debit or Decimal(0)) - (line.credit or Decimal(0))


class SandboxStore:
    """Thread-safe SQLite storage seeded with a small chart of accounts."""

    def __init__(self, db_path: str = ":memory:", *, seed: bool = True) -> None:
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            db_path, check_same_thread=False, detect_types=sqlite3.PARSE_DECLTYPES, isolation_level=None
        )
        with self._lock:
            self._conn.executescript(SCHEMA)
            self._upgrade()
            if seed:
                self._seed()

    def _upgrade(self) -> None:
        """Bring a store file written by an earlier version to this schema."""
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(transactionline)")}
        if "foreignamount" not in columns:
            self._conn.execute("ALTER TABLE transactionline ADD COLUMN foreignamount NUMERIC")
            self._conn.execute(
                "UPDATE transactionline SET foreignamount = (SELECT a.amount FROM transactionaccountingline a "
                'WHERE a."transaction" = transactionline."transaction" AND a.transactionline = transactionline.id)'
            )

    # -------------------------------------------------------------------------- seeding

    def _seed(self) -> None:
        conn = self._conn
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT OR IGNORE INTO currency (id, name, symbol, currencyprecision, exchangerate, isbasecurrency) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            SEED_CURRENCIES,
        )
        conn.executemany(
            "INSERT OR IGNORE INTO subsidiary (id, name, legalname, country, currency, parent) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            SEED_SUBSIDIARIES,
        )
        conn.executemany(
            "INSERT OR IGNORE INTO account (id, acctnumber, acctname, accountsearchdisplayname, accttype, currency, "
            "description, subsidiary) VALUES (?, ?, ?, ?, ?, 1, ?, 1)",
            [
                (aid, number, name, f"{number} {name}", kind, f"EcomOps sandbox {role} account")
                for role, (aid, number, name, kind) in SEED_ACCOUNTS.items()
            ],
        )
        conn.execute("COMMIT")

    # -------------------------------------------------------------------------- lookups

    def row(self, table: str, record_id: int | str) -> dict[str, Any] | None:
        """One seeded reference row (account, subsidiary, currency) by id, raw (ISO dates)."""
        if table not in {"account", "subsidiary", "currency"}:
            raise ValueError(table)
        try:
            key = int(record_id)
        except (TypeError, ValueError):
            return None
        with self._lock:
            cur = self._conn.execute(f"SELECT * FROM {table} WHERE id = ?", (key,))
            found = cur.fetchone()
            if found is None:
                return None
            return dict(zip([d[0] for d in cur.description], found, strict=True))

    def journal_id_for_external_id(self, external_id: str) -> int | None:
        """Internal id of the journal entry with this external id (case-insensitive)."""
        with self._lock:
            found = self._conn.execute(
                "SELECT id FROM \"transaction\" WHERE recordtype = 'journalentry' AND lower(externalid) = lower(?)",
                (external_id,),
            ).fetchone()
        return int(found[0]) if found else None

    def journal(self, journal_id: int | str) -> StoredJournal | None:
        """A stored journal entry with its lines, or None."""
        try:
            key = int(journal_id)
        except (TypeError, ValueError):
            return None
        with self._lock:
            head = self._conn.execute(
                "SELECT id, tranid, CAST(trandate AS TEXT), memo, externalid, currency, subsidiary, created_at, "
                "modified_at FROM \"transaction\" WHERE id = ? AND recordtype = 'journalentry'",
                (key,),
            ).fetchone()
            if head is None:
                return None
            lines = self._conn.execute(
                "SELECT a.account, CAST(a.debit AS TEXT), CAST(a.credit AS TEXT), l.memo "
                "FROM transactionline l JOIN transactionaccountingline a "
                'ON a."transaction" = l."transaction" AND a.transactionline = l.id '
                'WHERE l."transaction" = ? ORDER BY l.linesequencenumber',
                (key,),
            ).fetchall()
        return StoredJournal(
            id=head[0],
            tranid=head[1],
            trandate=head[2],
            memo=head[3],
            externalid=head[4],
            currency=head[5],
            subsidiary=head[6],
            created_at=head[7],
            modified_at=head[8],
            lines=tuple(
                StoredLine(
                    account_id=int(acc),
                    debit=Decimal(debit) if debit is not None else None,
                    credit=Decimal(credit) if credit is not None else None,
                    memo=memo,
                )
                for acc, debit, credit, memo in lines
            ),
        )

    def count_journals(self) -> int:
        """How many journal entries exist."""
        with self._lock:
            return int(
                self._conn.execute("SELECT COUNT(*) FROM \"transaction\" WHERE recordtype = 'journalentry'").fetchone()[
                    0
                ]
            )

    # --------------------------------------------------------------------------- writes

    def save_journal(
        self,
        *,
        trandate: str,
        memo: str | None,
        externalid: str | None,
        currency: int,
        subsidiary: int,
        lines: Sequence[StoredLine],
        replace_id: int | None = None,
        replace_lines: bool = True,
    ) -> int:
        """Insert a journal entry, or update ``replace_id``; return its id.

        An update sets the body fields; its lines replace the entry's lines only with
        ``replace_lines``, else they are appended to them, as NetSuite does for a sublist
        without keys unless the request says ``?replace=line``.
        """
        now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                if replace_id is None:
                    (max_id,) = conn.execute('SELECT MAX(id) FROM "transaction"').fetchone()
                    journal_id = max(FIRST_TRANSACTION_ID, (max_id or 0) + 1)
                    conn.execute(
                        'INSERT INTO "transaction" (id, tranid, trandate, type, recordtype, memo, externalid, '
                        "currency, subsidiary, createddate, lastmodifieddate, created_at, modified_at) "
                        "VALUES (?, ?, ?, 'Journal', 'journalentry', ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            journal_id,
                            f"JE{journal_id}",
                            trandate,
                            memo,
                            externalid,
                            currency,
                            subsidiary,
                            now[:10],
                            now[:10],
                            now,
                            now,
                        ),
                    )
                else:
                    journal_id = replace_id
                    conn.execute(
                        'UPDATE "transaction" SET trandate = ?, memo = ?, externalid = ?, currency = ?, '
                        "subsidiary = ?, lastmodifieddate = ?, modified_at = ? WHERE id = ?",
                        (trandate, memo, externalid, currency, subsidiary, now[:10], now, journal_id),
                    )
                    if replace_lines:
                        conn.execute('DELETE FROM transactionline WHERE "transaction" = ?', (journal_id,))
                        conn.execute('DELETE FROM transactionaccountingline WHERE "transaction" = ?', (journal_id,))
                (first,) = conn.execute(
                    'SELECT COALESCE(MAX(id) + 1, 0) FROM transactionline WHERE "transaction" = ?', (journal_id,)
                ).fetchone()
                self._insert_lines(journal_id, subsidiary, lines, first=first)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return journal_id

    def _insert_lines(self, journal_id: int, subsidiary: int, lines: Sequence[StoredLine], *, first: int = 0) -> None:
        self._conn.executemany(
            'INSERT INTO transactionline ("transaction", id, linesequencenumber, memo, subsidiary, foreignamount) '
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (journal_id, index, index, line.memo, subsidiary, str(_net(line)))
                for index, line in enumerate(lines, start=first)
            ],
        )
        self._conn.executemany(
            'INSERT INTO transactionaccountingline ("transaction", transactionline, account, debit, credit, amount) '
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    journal_id,
                    index,
                    line.account_id,
                    str(line.debit) if line.debit is not None else None,
                    str(line.credit) if line.credit is not None else None,
                    str(_net(line)),
                )
                for index, line in enumerate(lines, start=first)
            ],
        )

    def seed_journal_entries(self, count: int, *, start: date = date(2024, 1, 1), subsidiary: int = 1) -> list[int]:
        """Bulk-create ``count`` small balanced entries (for paging tests); return their ids."""
        bank, clearing = SEED_ACCOUNTS["bank"][0], SEED_ACCOUNTS["clearing"][0]
        ids: list[int] = []
        for n in range(count):
            amount = Decimal(1000 + n).scaleb(-2)
            trandate = date.fromordinal(start.toordinal() + n % 365).isoformat()
            ids.append(
                self.save_journal(
                    trandate=trandate,
                    memo=f"Seeded entry {n}",
                    externalid=f"seed-{n}",
                    currency=1,
                    subsidiary=subsidiary,
                    lines=(StoredLine(bank, amount, None, "seed"), StoredLine(clearing, None, amount, "seed")),
                )
            )
        return ids

    def edit_journal_line(self, journal_id: int, line: int, *, debit: Decimal | None, credit: Decimal | None) -> None:
        """Change one line's amounts of a stored entry, as a NetSuite user editing it would."""
        net = str((debit or Decimal(0)) - (credit or Decimal(0)))
        key = (journal_id, line)
        with self._lock:
            self._conn.execute(
                'UPDATE transactionline SET foreignamount = ? WHERE "transaction" = ? AND id = ?', (net, *key)
            )
            self._conn.execute(
                'UPDATE transactionaccountingline SET debit = ?, credit = ?, amount = ? WHERE "transaction" = ? '
                "AND transactionline = ?",
                (None if debit is None else str(debit), None if credit is None else str(credit), net, *key),
            )

    def redate_journal(self, journal_id: int, trandate: str) -> None:
        """Move a stored entry to another date, as a NetSuite user editing it would."""
        with self._lock:
            self._conn.execute('UPDATE "transaction" SET trandate = ? WHERE id = ?', (trandate, journal_id))

    def delete_journal(self, journal_id: int) -> None:
        """Delete a stored entry and its lines, as a NetSuite user deleting it would."""
        with self._lock:
            for table in ("transactionaccountingline", "transactionline"):
                self._conn.execute(f'DELETE FROM {table} WHERE "transaction" = ?', (journal_id,))
            self._conn.execute('DELETE FROM "transaction" WHERE id = ?', (journal_id,))

    def deactivate(self, table: str, record_id: int) -> None:
        """Mark an account, subsidiary or currency inactive, as a NetSuite administrator would."""
        if table not in ("account", "subsidiary", "currency"):
            raise ValueError(f"{table} records cannot be deactivated here")
        with self._lock:
            self._conn.execute(f"UPDATE {table} SET isinactive = 'T' WHERE id = ?", (record_id,))

    # -------------------------------------------------------------------------- queries

    def query(self, sql: str, params: Iterable[Any] = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run a (translated, read-only) query; return column names and rows."""
        with self._lock:
            cur = self._conn.execute(sql, tuple(params))
            rows = cur.fetchall()
            names = [d[0] for d in cur.description or ()]
        return names, rows

    def close(self) -> None:
        """Close the SQLite connection."""
        with self._lock:
            self._conn.close()
