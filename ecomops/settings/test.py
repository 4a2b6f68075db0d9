"""The test suite: `make test`. Same database engine as production, faster hashing."""

from .base import *  # noqa: F403
from .base import Q_CLUSTER

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; never outside tests
Q_CLUSTER = {**Q_CLUSTER, "name": "ecomops-test", "workers": 1, "poll": 0.1}
