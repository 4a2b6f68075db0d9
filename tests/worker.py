"""A real django-q2 worker (``manage.py qcluster``) for tests, against the test database.

It runs in its own process group so a test can kill it mid-task the way a crash would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

from ecomops.dbsetup import database_url

ROOT = Path(__file__).resolve().parent.parent


def worker_database_url() -> str:
    """The test database (pytest-django renamed it in the connection's settings)."""
    return database_url(connection.settings_dict)


class Worker:
    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "ecomops.settings.test",
            "DATABASE_URL": worker_database_url(),
            "WORKER_PROCESSES": "1",
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        return self

    def kill(self) -> None:
        """SIGKILL the whole worker (cluster, pusher, workers): nothing gets to clean up."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process:
            stop_process_group(self.process)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def stop_process_group(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM a process's whole group and wait until every member is gone (SIGKILL after
    ``timeout``): a cluster's children may still hold database connections after the parent
    exits, and the test database cannot be dropped while they do."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process.poll()
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def schedule_every_minute_from_now(name: str, func: str) -> None:
    """A django-q2 schedule calling ``func`` every minute, the first call due now (its worker's
    scheduler picks it up at once, rather than a minute after migrate made it)."""
    from django.utils import timezone
    from django_q.models import Schedule

    Schedule.objects.create(
        name=name, func=func, schedule_type=Schedule.MINUTES, minutes=1, repeats=-1, next_run=timezone.now()
    )
