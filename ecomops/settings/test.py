"""The test suite: `make test`. Same database engine as production, faster hashing."""

import os
import uuid

from .base import *  # noqa: F403
from .base import Q_CLUSTER

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; never outside tests

# The queue's name is the broker key. One per test run (and per xdist worker), so workers
# started by tests never pick up another run's tasks from a shared Redis. Subprocesses
# inherit the variable, so a test's worker listens where the test enqueues.
_RUN = os.environ.setdefault("ECOMOPS_TEST_RUN", uuid.uuid4().hex[:8])
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
Q_CLUSTER = {**Q_CLUSTER, "name": f"ecomops-test-{_RUN}-{_WORKER}", "workers": 1, "poll": 0.1}
