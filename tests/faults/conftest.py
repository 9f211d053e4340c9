"""Fault tests: the real servers (gunicorn, Celery workers and beat) on a PostgreSQL and a
Redis of their own, which the tests stop, restart and kill.

Every test under ``tests/faults/`` is marked ``faults``: ``make test`` leaves them out
(``-m 'not faults'`` in the default options) and ``make test-faults`` runs them, one at a
time (they restart servers other tests would be using).

The PostgreSQL and Redis started by ``scripts/test_services.py`` are left alone: this
session starts its own pair with the same helpers, and points the test process's database
(pytest-django's test database) at its PostgreSQL, so the test process builds the state
through the project's services and reads back what the servers wrote, in the same database.
"""

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections

from scripts import test_services
from tests.faults.servers import (
    CeleryBeat,
    CeleryWorker,
    Gunicorn,
    Postgres,
    Process,
    Redis,
    server_environment,
)

FAULTS_DIR = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test of this folder ``faults`` (before ``-m`` selects)."""
    for item in items:
        if FAULTS_DIR in Path(item.path).parents:
            item.add_marker(pytest.mark.faults)
            # The servers write in their own transactions: the test's changes are committed
            # and flushed afterwards (the catalog, seeded by a migration, restored).
            item.add_marker(pytest.mark.django_db(transaction=True, serialized_rollback=True))


@pytest.fixture(scope="session")
def services_dir() -> Iterator[Path]:
    tmp = Path(tempfile.mkdtemp(prefix="handoff-faults-"))
    if os.geteuid() == 0:  # PostgreSQL runs as 'postgres' and must enter the directory
        shutil.chown(tmp, "postgres", "postgres")
    yield tmp
    test_services.remove_tree(tmp)


@pytest.fixture(scope="session")
def postgres(services_dir) -> Iterator[Postgres]:
    """This session's own PostgreSQL, which tests may stop and start again."""
    bindir = test_services.find_pg_bindir()
    assert bindir is not None, (
        "PostgreSQL's server binaries are needed (apt-get install postgresql)"
    )
    server = Postgres(bindir, services_dir)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server(services_dir) -> Iterator[Redis]:
    """This session's own Redis, persistent (an append-only file) as production's is, so
    that what it held before a restart is still there after it."""
    binary = test_services.find_redis()
    assert binary is not None, "redis-server is needed (apt-get install redis-server)"
    tmp = services_dir / "redis"
    tmp.mkdir()
    server = Redis(binary, tmp)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, postgres) -> None:
    """pytest-django creates its test database on this session's PostgreSQL."""
    for alias in connections:
        connections[alias].close()
        connections.settings[alias]["HOST"] = "127.0.0.1"
        connections.settings[alias]["PORT"] = str(postgres.port)


@pytest.fixture(autouse=True)
def _services_up(postgres, redis_server) -> Iterator[None]:
    """Each test starts with both services up (a failed test may have left one down) and
    an empty Redis, and leaves them up for the next."""
    postgres.start()
    redis_server.start()
    redis_server.client().flushall()
    yield
    postgres.start()
    redis_server.start()
    connections["default"].close()


class Servers:
    """Starts gunicorn, Celery workers and beat for one test on the session's services (with
    ``settings`` added to their environment); stops them all afterwards."""

    def __init__(self, *, database_url: str, redis_url: str, logs: Path) -> None:
        self.database_url, self.redis_url, self.logs = database_url, redis_url, logs
        self.started: list[Process] = []

    def environment(self, **settings: str) -> dict[str, str]:
        return server_environment(
            database_url=self.database_url, redis_url=self.redis_url, **settings
        )

    def _log(self, name: str) -> Path:
        return self.logs / f"{len(self.started)}-{name}.log"

    def gunicorn(self, *, workers: int = 2, wait: bool = True, **settings: str) -> Gunicorn:
        """gunicorn, ready to answer unless ``wait`` is off (then ``wait_ready()`` later:
        servers start side by side)."""
        server = Gunicorn(self.environment(**settings), self._log("gunicorn"), workers=workers)
        self.started.append(server)
        return server.wait_ready() if wait else server

    def worker(self, *, concurrency: int = 1, wait: bool = True, **settings: str) -> CeleryWorker:
        worker = CeleryWorker(
            self.environment(**settings), self._log("worker"), concurrency=concurrency
        )
        self.started.append(worker)
        return worker.wait_ready() if wait else worker

    def beat(self, **settings: str) -> CeleryBeat:
        beat = CeleryBeat(self.environment(**settings), self._log("beat"))
        self.started.append(beat)
        return beat

    def stop(self) -> None:
        for process in reversed(self.started):
            process.stop()

    def logs_text(self) -> str:
        return "\n".join(f"--- {p.log.name}\n{p.output()}" for p in self.started)


@pytest.fixture
def servers(transactional_db, postgres, redis_server, tmp_path) -> Iterator[Servers]:
    """The servers of one test, on the test database (stopped before it is flushed)."""
    name = connections["default"].settings_dict["NAME"]
    started = Servers(
        database_url=f"postgres://{test_services.PG_USER}@127.0.0.1:{postgres.port}/{name}",
        redis_url=redis_server.url,
        logs=tmp_path,
    )
    try:
        yield started
    finally:
        started.stop()
