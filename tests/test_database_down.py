"""PostgreSQL stopped under a running production server: the API and the Stripe webhook
answer JSON 503 with Retry-After, not Django's HTML "Server Error (500)" page.

The suite's own PostgreSQL serves every test, so this one starts a throwaway PostgreSQL of
its own (with the harness's helpers, scripts/test_services.py), serves Handoff from it with
gunicorn and the documented production environment on 127.0.0.1, and stops it mid-test.
"""

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from billing.stripe.signing import signature_header
from scripts import test_services
from tests.test_config import BASE_DIR, production

HOST = "handoff.example.com"
# Load balancers probe by IP address, which is not among ALLOWED_HOSTS.
PROBE_HOST = "10.0.0.7"
API_KEY = f"hk_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"
WEBHOOK_SECRET = f"whsec_{secrets.token_urlsafe(32)}"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Postgres:
    url: str
    stop: contextlib.ExitStack


@pytest.fixture
def own_postgres() -> Iterator[Postgres]:
    """A throwaway PostgreSQL of this test's own (``stop.close()`` stops it)."""
    bindir = test_services.find_pg_bindir()
    assert bindir is not None, (
        "PostgreSQL's server binaries are needed (apt-get install postgresql)"
    )
    with contextlib.ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="handoff-test-database-down-"))
        stack.callback(test_services.remove_tree, tmp)
        if os.geteuid() == 0:  # PostgreSQL runs as 'postgres' and must enter the directory
            shutil.chown(tmp, "postgres", "postgres")
        server = stack.enter_context(contextlib.ExitStack())
        port = test_services.start_postgres(bindir, tmp, server)
        url = f"postgres://{test_services.PG_USER}@127.0.0.1:{port}/{test_services.PG_DB}"
        yield Postgres(url=url, stop=server)


def request(port: int, path: str, *, host: str = HOST, **kwargs) -> Answer:
    """One request to the server as the TLS-terminating proxy forwards it."""
    headers = {"Host": host, "X-Forwarded-Proto": "https"} | kwargs.pop("headers", {})
    req = urllib.request.Request(  # noqa: S310 - a local http URL
        f"http://127.0.0.1:{port}{path}", headers=headers, **kwargs
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as response:  # noqa: S310 - local
            return Answer(response.status, dict(response.headers), response.read().decode())
    except urllib.error.HTTPError as error:
        return Answer(error.code, dict(error.headers), error.read().decode())


@pytest.fixture
def server(own_postgres, tmp_path) -> Iterator[int]:
    """gunicorn serving Handoff from ``own_postgres`` in production mode; its port."""
    port = test_services.free_port()
    env = production(
        DATABASE_URL=own_postgres.url,
        ALLOWED_HOSTS=HOST,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        CONN_MAX_AGE="60",
    )
    log = (tmp_path / "gunicorn.log").open("wb")
    command = [sys.executable, "-m", "gunicorn", "config.wsgi", f"--bind=127.0.0.1:{port}"]
    process = subprocess.Popen(
        [*command, "--workers=1", "--timeout=20"],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError):
                if request(port, "/healthz", host=PROBE_HOST).status == 200:
                    break
            assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()
            time.sleep(0.1)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _signed_event() -> tuple[bytes, str]:
    event = {
        "id": f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "type": "customer.subscription.updated",
        "created": int(time.time()),
        "data": {"object": {"id": "sub_123", "object": "subscription"}},
    }
    payload = json.dumps(event).encode()
    return payload, signature_header(payload, WEBHOOK_SECRET)


def test_with_postgresql_stopped_the_api_and_the_webhook_answer_json_503_with_retry_after(
    own_postgres, server
):
    bearer = {"Authorization": f"Bearer {API_KEY}"}
    # Up: a database failure that is no outage (this database was never migrated) is a JSON
    # 500 too; host checking is as strict as ever outside /healthz.
    unmigrated = request(server, "/api/v1/entitlements", headers=bearer)
    assert (unmigrated.status, unmigrated.headers["Content-Type"]) == (500, "application/json")
    assert "Retry-After" not in unmigrated.headers
    assert request(server, "/login/", host=PROBE_HOST).status == 400

    own_postgres.stop.close()  # PostgreSQL stops (fast shutdown)

    api = request(server, "/api/v1/entitlements", headers=bearer)
    payload, signature = _signed_event()
    webhook = request(
        server,
        "/billing/stripe/webhook/",
        data=payload,
        method="POST",
        headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
    )
    health = request(server, "/healthz", host=PROBE_HOST)

    assert api.status == 503
    assert api.headers["Content-Type"] == "application/json"
    assert api.headers["Retry-After"] == "30"
    assert api.json() == {
        "detail": "Service unavailable: Handoff cannot reach the database for a moment. "
        "Retry after 30 seconds."
    }
    assert webhook.status == 503
    assert webhook.headers["Retry-After"] == "30"
    assert webhook.json()["error"].startswith("Service unavailable: Handoff cannot reach")
    assert health.status == 503
    assert health.json() == {"status": "down", "database": "unreachable", "redis": "ok"}
