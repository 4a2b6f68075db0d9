"""NetSuite sandbox: a development/test imitation of NetSuite's REST web services."""

from netsuite.sandbox.server import (
    NetSuiteSandbox,
    SandboxBuild,
    SandboxCredentials,
    build_netsuite_sandbox,
)
from netsuite.sandbox.store import SEED_ACCOUNTS, SEED_CURRENCY_IDS, SandboxStore

__all__ = [
    "SEED_ACCOUNTS",
    "SEED_CURRENCY_IDS",
    "NetSuiteSandbox",
    "SandboxBuild",
    "SandboxCredentials",
    "SandboxStore",
    "build_netsuite_sandbox",
]
