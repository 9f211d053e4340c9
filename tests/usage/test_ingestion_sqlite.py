"""The embedded default (SQLite, runserver) holds concurrent usage posts.

The suite runs on PostgreSQL, so this test starts the embedded default in a child process on a
SQLite file of its own: one ``manage.py shell`` migrates, creates a workspace and an API key,
and then serves with ``runserver`` (threaded, as ``make run`` does). Sixteen threads then post
at once.
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent.parent
MARKER = "HANDOFF-KEY "
CLIENTS = 16
EVENTS_PER_POST = 5

SERVE = """
import sys
from django.core.management import call_command
from accounts import services
call_command("migrate", verbosity=0)
owner = services.user_create(email="owner@sqlite.test", password="a long sqlite password")
workspace = services.workspace_create(name="SQLite", owner=owner)
_, key = services.api_key_create(workspace=workspace, name="load", actor=owner)
print({marker!r} + key, flush=True)
call_command("runserver", "127.0.0.1:{port}", use_reloader=False, skip_checks=True)
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _environment(database: Path, port: int) -> dict[str, str]:
    """This process's environment as the embedded default sees it: no PostgreSQL, no Redis,
    development mode (as `make run` sets it)."""
    unset = {
        "DATABASE_URL",
        "REDIS_URL",
        "CELERY_TASK_ALWAYS_EAGER",
        "DEBUG",
        "DJANGO_SETTINGS_MODULE",
    }
    env = {name: value for name, value in os.environ.items() if name not in unset}
    return env | {
        "DEBUG": "True",
        "DATABASE_URL": f"sqlite:///{database}",
        "HANDOFF_SITE_URL": f"http://127.0.0.1:{port}",
        "PYTHONUNBUFFERED": "1",
    }


def _request(url: str, key: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - a local http URL
        url,
        data=data,
        method="POST" if data else "GET",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - local
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, {"error": error.read().decode(errors="replace")[:300]}


@pytest.fixture
def embedded_server(tmp_path):
    """(base URL, API key) of the embedded default serving a fresh SQLite file."""
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "shell",
            "--no-imports",
            "-c",
            SERVE.format(marker=MARKER, port=port),
        ],
        cwd=BASE_DIR,
        env=_environment(tmp_path / "handoff.sqlite3", port),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        key = None
        for line in process.stdout:
            if line.startswith(MARKER):
                key = line.removeprefix(MARKER).strip()
                break
        assert key, f"the server process exited early ({process.poll()})"
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "runserver did not start listening"
                time.sleep(0.1)
        # Keep reading the log so the server never blocks on a full pipe.
        threading.Thread(target=process.stdout.read, daemon=True).start()
        yield f"http://127.0.0.1:{port}", key
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_sixteen_concurrent_usage_posts_on_sqlite_all_succeed_and_all_are_counted(
    embedded_server,
):
    base_url, key = embedded_server
    barrier = threading.Barrier(CLIENTS)
    statuses: list[tuple[int, dict]] = []

    def post(client: int) -> None:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        events = [
            {
                "metric": "api_calls",
                "quantity": 1,
                "idempotency_key": f"c{client}-{n}",
                "timestamp": now,
            }
            for n in range(EVENTS_PER_POST)
        ]
        barrier.wait()
        statuses.append(_request(f"{base_url}/api/v1/usage/events", key, {"events": events}))

    threads = [threading.Thread(target=post, args=(client,)) for client in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert [status for status, _ in statuses] == [200] * CLIENTS, statuses
    status, entitlements = _request(f"{base_url}/api/v1/entitlements", key)
    assert status == 200
    assert entitlements["limits"]["api_calls"]["used"] == CLIENTS * EVENTS_PER_POST
