"""Shared fixtures. The suite runs against real PostgreSQL and Redis (``make test`` starts
throwaway ones); Celery tasks run eagerly unless a test starts real workers."""

import os

import pytest
from django.conf import settings
from django.core import mail
from django.core.cache import cache

from billing import entitlements
from config.celery_app import app as celery_app
from tests import log_secrets
from tests.factories import UserFactory, WorkspaceFactory, add_member
from usage import current, selectors


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In the process that reports (not an xdist worker): fail the run if any secret the
    suite made appears in the session's logs (tests/log_secrets.py)."""
    if os.environ.get("PYTEST_XDIST_WORKER") or not session.testscollected:
        return
    logs, known, findings = log_secrets.secrets_in_logs(log_secrets.log_dir())
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if findings:
        if reporter:
            reporter.write_sep("=", "secrets found in the logs of this run", red=True)
            for finding in findings[:50]:
                reporter.write_line(finding)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif reporter:
        reporter.write_line(
            f"logs: {logs} files searched for {known} e-mailed secrets and for unredacted "
            "keys, webhook secrets, bearer credentials and link tokens: none found"
        )


@pytest.fixture(autouse=True)
def _secrets_sent_by_mail():
    """After each test, list the link tokens it e-mailed, for the end-of-session search."""
    yield
    log_secrets.record_sent_secrets(getattr(mail, "outbox", []))


def pytest_configure(config: pytest.Config) -> None:
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine or not settings.REDIS_URL:
        raise pytest.UsageError(
            "The test suite needs PostgreSQL and Redis: run it with `make test`, or set "
            "DATABASE_URL and REDIS_URL (see scripts/test_services.py)."
        )


@pytest.fixture(autouse=True)
def _test_settings(settings):
    # A fast hasher: the suite creates many users; hashing strength is not under test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]


@pytest.fixture(autouse=True)
def _eager_celery():
    """Run tasks in-process by default; tests with real workers switch this off."""
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager = True


@pytest.fixture(autouse=True)
def _clear_cache():
    """Tests share one Redis: start each from an empty cache, and an empty local layer."""
    cache.clear()
    entitlements.clear_local_cache()
    current.clear_local_cache()
    selectors.activation_clear_local_cache()


@pytest.fixture
def owner(db):
    return UserFactory(email="owner@northwind.io")


@pytest.fixture
def workspace(owner):
    return WorkspaceFactory(name="Northwind", created_by=owner)


@pytest.fixture
def admin_user(workspace):
    return add_member(workspace, "admin@northwind.io", role="admin").user


@pytest.fixture
def member_user(workspace):
    return add_member(workspace, "member@northwind.io", role="member").user


@pytest.fixture
def other_workspace(db):
    return WorkspaceFactory(name="Globex", created_by=UserFactory(email="boss@globex.com"))


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client
