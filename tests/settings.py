"""The settings the test suite runs with: the project's own, in development mode.

DEBUG is off unless set (config/settings.py), and the suite needs development mode's
defaults: the development SECRET_KEY and webhook secret, offline demo billing, static files
under their own names, no HTTPS redirect. pytest-django then runs each test with DEBUG off,
as Django's test runner does. Tests of the production settings start ``manage.py`` in a
fresh process with an environment of their own (tests/test_config.py), never these.
"""

import os
import tempfile
from urllib.parse import urlsplit

os.environ["DEBUG"] = "True"

# Under pytest-xdist each worker has a database of its own (pytest-django names them) and a
# Redis database of its own here, so one worker's cache and Celery queue are not another's.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.startswith("gw") and os.environ.get("REDIS_URL"):
    _redis = urlsplit(os.environ["REDIS_URL"])
    os.environ["REDIS_URL"] = _redis._replace(path=f"/{1 + int(_worker[2:])}").geturl()

from config.settings import *  # noqa: E402, F403

# Every log record of the session, DEBUG level included, through the same secret-redacting
# filter as production's handlers, into one file per process: at the end of the session
# tests/conftest.py searches them for every secret the suite made (tests/log_secrets.py).
if not os.environ.get("HANDOFF_TEST_LOG_DIR"):
    os.environ["HANDOFF_TEST_LOG_DIR"] = tempfile.mkdtemp(prefix="handoff-test-logs-")
LOGGING["handlers"]["console"]["level"] = LOGGING["root"]["level"]  # noqa: F405
LOGGING["handlers"]["session_file"] = {  # noqa: F405
    "class": "logging.FileHandler",
    "filename": os.path.join(
        os.environ["HANDOFF_TEST_LOG_DIR"], f"{_worker or 'main'}-{os.getpid()}.log"
    ),
    "level": "DEBUG",
    "formatter": "plain",
    "filters": ["redact_secrets"],
}
LOGGING["root"] = {"handlers": ["console", "session_file"], "level": "DEBUG"}  # noqa: F405
