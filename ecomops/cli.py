"""Argument types shared by the management commands."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def at_least(minimum: int, *, multiple_of: int = 1, maximum: int | None = None) -> Callable[[str], int]:
    """An ``argparse`` type: a whole number >= ``minimum`` (and a multiple of ``multiple_of``, and
    at most ``maximum`` when given).

    A bad value stops the command before it starts anything, with the option's name and
    what it accepts, instead of failing later (a sandbox that refuses to start, a traceback).
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, not {value}")
        if value % multiple_of:
            raise argparse.ArgumentTypeError(f"must be a multiple of {multiple_of}, not {value}")
        return value

    parse.__name__ = f"whole number >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
    return parse


PORT = at_least(0, maximum=65535)  # 0: any free port


def command_tenant(reference: str):  # -> tenants.models.Tenant
    """The tenant a command's ``--tenant`` names, by slug or by id; a clear error otherwise."""
    from django.core.management.base import CommandError

    from tenants.services import find_tenant

    tenant = find_tenant(reference)
    if tenant is None:
        raise CommandError(f"Unknown tenant {reference!r}: give an existing tenant's slug or id.")
    return tenant
