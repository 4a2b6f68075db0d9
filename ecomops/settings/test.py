"""The test suite: `make test`. Same database engine as production, faster hashing."""

import os
import uuid

from .base import *  # noqa: F403
from .base import DATABASES, Q_CLUSTER

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; never outside tests

# The queue's name is the broker key. One per test run (and per xdist worker), so workers
# started by tests never pick up another run's tasks from a shared Redis. Subprocesses
# inherit the variable, so a test's worker listens where the test enqueues.
_RUN = os.environ.setdefault("ECOMOPS_TEST_RUN", uuid.uuid4().hex[:8])
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
Q_CLUSTER = {**Q_CLUSTER, "name": f"ecomops-test-{_RUN}-{_WORKER}", "workers": 1, "poll": 0.1}
# A test database per run as well: two test sessions on one machine (two terminals, or a
# session and a benchmark) must not drop each other's database.
if not os.environ.get("TEST_DATABASE_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": f"test_ecomops_{_RUN}"}

# No scheduled syncs: a test's worker must run only what the test queues (the schedule's
# own test creates the schedule and sets the variable for its worker).
SYNC_INTERVAL_MINUTES = int(os.environ.get("SYNC_INTERVAL_MINUTES", "0"))
# Nor the postings' recovery schedule, for the same reason (its tests call the tick directly).
POSTING_RECOVERY = os.environ.get("POSTING_RECOVERY", "0").lower() in ("1", "true", "yes", "on")
# Nor the tenants' schedules' tick (its tests call it directly).
TENANT_SCHEDULES = os.environ.get("TENANT_SCHEDULES", "0").lower() in ("1", "true", "yes", "on")

# The browser tests run the real server with these settings and no collectstatic step.
WHITENOISE_USE_FINDERS = True
