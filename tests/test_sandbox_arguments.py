"""``manage.py sandbox``: a port or a size it cannot use is refused in one line, naming the option."""

from __future__ import annotations

import socket

import pytest
from django.core.management import CommandError, call_command


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stripe-port", "99999"], "--stripe-port: must be at most 65535, not 99999"),
        (["--shopify-port", "-1"], "--shopify-port: must be at least 0, not -1"),
        (["--netsuite-port", "http"], "--netsuite-port: 'http' is not a whole number"),
        (["--days", "-5"], "--days: must be at least 0, not -5"),
    ],
)
def test_a_value_it_cannot_use_is_refused_before_anything_starts(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("sandbox", *args)


def test_a_port_already_taken_is_refused_in_one_line_naming_it(db, settings, tmp_path):
    settings.BASE_DIR = tmp_path  # the NetSuite sandbox keeps its file in .data/ there, not in the project's
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises(CommandError) as refused:
            call_command(
                "sandbox", "--days", "1", "--stripe-port", "0", "--shopify-port", "0", "--netsuite-port", str(port)
            )

    assert str(refused.value) == f"--netsuite-port {port}: cannot listen there (Address already in use)."
