"""Local development: `make run`."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
WHITENOISE_USE_FINDERS = True  # serve static files straight from the apps: no collectstatic in development
