"""The settings the test suite runs with: the project's own, in development mode.

DEBUG is off unless set (config/settings.py), and the suite needs development mode's
defaults: the development SECRET_KEY and webhook secret, offline demo billing, static files
under their own names, no HTTPS redirect. pytest-django then runs each test with DEBUG off,
as Django's test runner does. Tests of the production settings start ``manage.py`` in a
fresh process with an environment of their own (tests/test_config.py), never these.
"""

import os

os.environ["DEBUG"] = "True"

from config.settings import *  # noqa: F403
