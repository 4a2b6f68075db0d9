"""Database provisioning: the embedded PostgreSQL server and the application role.

With no ``DATABASE_URL`` the project runs PostgreSQL from the ``pgserver`` wheel in
``.data/pg`` (unix socket only, works offline). Either way the application connects as
its own role, which owns its database but is neither superuser nor ``BYPASSRLS``: a
superuser ignores row-level security, and ``FORCE ROW LEVEL SECURITY`` makes the owner
obey the policies too.

Command line (used by the Makefile and CI)::

    python -m ecomops.dbsetup start       # start the embedded server, print the app URL
    python -m ecomops.dbsetup stop        # stop it
    python -m ecomops.dbsetup url         # print the app URL without starting anything
    python -m ecomops.dbsetup provision --admin-url postgresql://postgres@127.0.0.1:5432/postgres \
        [--role ecomops] [--password ...] [--database ecomops]
                                          # create the role and database on an external server,
                                          # print the app DATABASE_URL

This module must not import Django: settings use it before Django is configured.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
EMBEDDED_DIR = Path(os.environ.get("ECOMOPS_EMBEDDED_PG_DIR", BASE_DIR / ".data" / "pg"))
APP_ROLE = "ecomops"
APP_DATABASE = "ecomops"

# The one-time SQL for an external server (also in the README). CREATEDB lets the test
# runner create its throw-away test database; it grants nothing over other databases.
PROVISION_SQL = """
CREATE ROLE {role} LOGIN PASSWORD %(password)s NOSUPERUSER NOBYPASSRLS CREATEDB NOCREATEROLE;
CREATE DATABASE {database} OWNER {role};
"""


# The embedded server's settings beyond initdb's defaults, in a file of their own that
# postgresql.conf includes. initdb sizes shared_buffers at 128 MB, which a sync of a few
# hundred thousand rows outgrows: its indexes no longer fit and every insertion into them
# reads and writes pages through the OS instead. A bulk load also fills the default 1 GB of
# WAL between checkpoints within seconds. Modest figures, fine for a laptop.
EMBEDDED_CONF = "ecomops.conf"
EMBEDDED_SETTINGS = {
    "shared_buffers": "1GB",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "15min",
}


def _embedded_config_changed() -> bool:
    """Write the settings file (and its include) if they differ; True when a restart applies them."""
    conf = EMBEDDED_DIR / "postgresql.conf"
    wanted = "".join(f"{name} = '{value}'\n" for name, value in EMBEDDED_SETTINGS.items())
    settings_file = EMBEDDED_DIR / EMBEDDED_CONF
    changed = False
    if not settings_file.exists() or settings_file.read_text() != wanted:
        settings_file.write_text(wanted)
        changed = True
    include = f"include_if_exists = '{EMBEDDED_CONF}'\n"
    if include not in conf.read_text():
        with conf.open("a") as handle:
            handle.write("\n# EcomOps: settings of the embedded server (ecomops/dbsetup.py)\n" + include)
        changed = True
    if changed and os.geteuid() == 0:  # the server may run as pgserver's own user: let it read the file
        os.chown(settings_file, conf.stat().st_uid, conf.stat().st_gid)
    return changed


def _pg_ctl(*args: str) -> None:
    import subprocess

    import pgserver

    pg_ctl = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_ctl"
    owner = EMBEDDED_DIR.stat().st_uid
    command = [str(pg_ctl), "-D", str(EMBEDDED_DIR), *args]
    if os.geteuid() == 0 and owner != 0:
        # pgserver runs the server as its own OS user when started by root.
        import pwd
        import shlex

        command = ["su", "-s", "/bin/sh", pwd.getpwuid(owner).pw_name, "-c", shlex.join(command)]
    # No pipes: a server pg_ctl starts would hold them open, and this call would never return.
    subprocess.run(  # noqa: S603 - fixed argv, no shell input
        command, check=False, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def embedded_url() -> str:
    """The application's URL for the embedded server (socket in the data directory)."""
    return f"postgresql://{APP_ROLE}@/{APP_DATABASE}?host={quote(str(EMBEDDED_DIR), safe='/')}"


def embedded_is_running() -> bool:
    """True when the embedded server's socket and live postmaster are present."""
    pid_file = EMBEDDED_DIR / "postmaster.pid"
    if not (EMBEDDED_DIR / ".s.PGSQL.5432").exists() or not pid_file.exists():
        return False
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
        os.kill(pid, 0)
    except (ValueError, OSError):
        return False
    return True


def embedded_start() -> tuple[str, bool]:
    """Start the embedded server if needed and make sure the app role exists.

    Returns (application URL, whether this call started the server).
    """
    if embedded_is_running():
        return embedded_url(), False
    import warnings

    # pgserver asks platformdirs for a runtime dir it does not use; the warning is noise.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver  # imported late: only the embedded path needs it

    EMBEDDED_DIR.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process; `stop` ends it.
    server = pgserver.get_server(EMBEDDED_DIR, cleanup_mode=None)
    admin_url = f"postgresql://postgres@/postgres?host={quote(str(EMBEDDED_DIR), safe='/')}"
    del server
    if _embedded_config_changed():
        # pg_ctl restart keeps the options pgserver started it with (postmaster.opts).
        _pg_ctl("-m", "fast", "-w", "-l", str(EMBEDDED_DIR / "log"), "restart")
    provision(admin_url=admin_url, role=APP_ROLE, password=None, database=APP_DATABASE)
    return embedded_url(), True


def embedded_stop() -> bool:
    """Stop the embedded server; returns whether one was running."""
    if not embedded_is_running():
        return False
    _pg_ctl("-m", "fast", "-w", "stop")
    return True


def provision(*, admin_url: str, role: str, password: str | None, database: str) -> None:
    """Create the application role and database if missing (idempotent)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
        if not exists:
            statement = sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS CREATEDB NOCREATEROLE").format(
                sql.Identifier(role)
            )
            conn.execute(statement)
        else:
            # An existing role is brought to the shape RLS needs, never left privileged.
            conn.execute(sql.SQL("ALTER ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS CREATEDB").format(sql.Identifier(role)))
        if password:
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(role)))


def _app_url_for(admin_url: str, role: str, password: str | None, database: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(admin_url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    auth = quote(role) + (f":{quote(password)}" if password else "")
    return urlunsplit((parts.scheme, f"{auth}@{host}{port}", f"/{database}", parts.query, ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecomops.dbsetup", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("start", help="start the embedded PostgreSQL server")
    sub.add_parser("stop", help="stop the embedded PostgreSQL server")
    sub.add_parser("url", help="print the embedded server's application URL")
    prov = sub.add_parser("provision", help="create the application role and database on a server")
    prov.add_argument("--admin-url", required=True, help="a superuser URL for the target server")
    prov.add_argument("--role", default=APP_ROLE)
    prov.add_argument("--password", default=None)
    prov.add_argument("--database", default=APP_DATABASE)
    args = parser.parse_args(argv)

    if args.command == "start":
        url, started = embedded_start()
        print(url)
        print("started" if started else "already-running", file=sys.stderr)
    elif args.command == "stop":
        print("stopped" if embedded_stop() else "not-running")
    elif args.command == "url":
        print(embedded_url())
    elif args.command == "provision":
        provision(admin_url=args.admin_url, role=args.role, password=args.password, database=args.database)
        print(_app_url_for(args.admin_url, args.role, args.password, args.database))
    return 0


if __name__ == "__main__":
    sys.exit(main())


def database_url(settings_dict: dict) -> str:
    """A libpq URL for a Django database settings dict (for subprocesses and raw psycopg)."""
    user = quote(settings_dict.get("USER") or "")
    password = settings_dict.get("PASSWORD") or ""
    auth = user + (f":{quote(password)}" if password else "")
    host = str(settings_dict.get("HOST") or "")
    port = str(settings_dict.get("PORT") or "")
    name = settings_dict["NAME"]
    if host.startswith("/"):
        return f"postgresql://{auth}@/{name}?host={quote(host, safe='/')}"
    return f"postgresql://{auth}@{host}{':' + port if port else ''}/{name}"
