"""One ``seed_demo`` per test module: the seeding is the slow part of its tests.

``demo_seeded`` runs the command inside a transaction that stays open while the module's
tests run and is rolled back after the last one. Each test (``django_db``) runs in a
savepoint inside it and is rolled back to the seeded state, so a test may change the data
or run ``seed_demo`` again without disturbing the next one, and nothing reaches other
modules. What the command queues on commit never runs (there is no commit), as in any
``django_db`` test.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from io import StringIO
from typing import Any

from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import override_settings
from django.utils import timezone

# seed_demo needs DEBUG on (the embedded default); the fast hasher as in every test.
SEED_SETTINGS = {
    "DEBUG": True,
    "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],
    "ALLOWED_HOSTS": ["testserver", "127.0.0.1", "localhost"],
}


@dataclass(frozen=True)
class SeedRun:
    output: str
    started_at: datetime
    finished_at: datetime


@contextmanager
def demo_seeded(
    django_db_blocker: Any, *, before: Callable[[], object] | None = None
) -> Iterator[SeedRun]:
    """Seed the demo data once, yield what the run printed and when it ran, then roll it
    all back. ``before`` runs first, in the same transaction: real data that was there
    before the seeding."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
    try:
        with django_db_blocker.unblock(), override_settings(**SEED_SETTINGS):
            if before is not None:
                before()
            out = StringIO()
            started_at = timezone.now()
            call_command("seed_demo", stdout=out)
            run = SeedRun(out.getvalue(), started_at, timezone.now())
            # Check the deferred foreign keys of everything seeded now, once, rather than
            # at the end of every test (each test's teardown checks what is pending).
            connection.check_constraints()
        yield run
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
