"""Where an account's days begin and end: the time zone its provider keeps it in.

A Shopify shop dates its payouts in its ``ianaTimezone``; a Stripe account's reports follow
its dashboard time zone. A sync reads it at most once (``AccountTimeZone``) and the runner
stores a name it knows on the connection (``Connection.time_zone``), where the month close
finds when each connection's month ended.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connections.models import Connection

# The longest IANA name is about half this; a longer one is nobody's time zone.
MAX_NAME = Connection._meta.get_field("time_zone").max_length


class AccountTimeZone:
    """The account's time zone, read from the provider when first asked (``zone()``).

    ``name`` is the IANA name read, once read and known; it stays "" before, and when the
    provider names no zone or one this server does not know. Such a name is reported on the
    job (``messages``, with ``unknown_means``: what the sync does instead) and ``zone`` is UTC,
    while the zone stored on the connection by an earlier sync stays as it was.
    """

    def __init__(self, read: Callable[[], str], *, whose: str, unknown_means: str, messages: list[str]) -> None:
        self._read, self.whose, self.unknown_means, self.messages = read, whose, unknown_means, messages
        self._zone: tzinfo | None = None
        self.name = ""

    def zone(self) -> tzinfo:
        if self._zone is None:
            name = self._read()
            self._zone = _known(name)
            if self._zone is None:
                told = f"time zone {name[:MAX_NAME]!r} is unknown" if name else "time zone is not given"
                self.messages.append(f"{self.whose} {told}: {self.unknown_means}")
                self._zone = UTC
            else:
                self.name = name
        return self._zone


def _known(name: str) -> tzinfo | None:
    if not name or len(name) > MAX_NAME:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def time_zone_store(*, connection: Connection, time_zone: AccountTimeZone) -> None:
    """Keep on the connection the time zone the sync read, if it read a known one: a sync that
    did not ask, or was told a name nobody knows, leaves the one stored before."""
    if time_zone.name and time_zone.name != connection.time_zone:
        Connection.objects.filter(pk=connection.pk).update(time_zone=time_zone.name)
        connection.time_zone = time_zone.name
