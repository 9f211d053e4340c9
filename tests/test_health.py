"""``GET /healthz`` against the suite's real PostgreSQL and Redis, and with each one gone."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
MARKER = "HEALTHZ-RESPONSE "


def closed_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db
def test_healthz_reports_ok_when_database_and_redis_answer(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


@pytest.mark.django_db
def test_healthz_is_degraded_but_up_when_redis_is_unreachable(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "database": "ok", "redis": "unreachable"}


@pytest.mark.django_db
def test_healthz_is_never_cached(client):
    response = client.get("/healthz")

    cache_control = response["Cache-Control"]
    assert "no-cache" in cache_control
    assert "max-age=0" in cache_control


def test_healthz_answers_503_when_the_database_is_unreachable():
    # A separate process, so the database really is unreachable from the first connection on.
    code = (
        "import json\n"
        "from django.test import Client\n"
        "response = Client().get('/healthz', HTTP_HOST='127.0.0.1')\n"
        f"print({MARKER!r} + json.dumps("
        "{'status_code': response.status_code, 'body': response.json()}))\n"
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"}
    }
    env["DATABASE_URL"] = f"postgres://nobody@127.0.0.1:{closed_port()}/nowhere"

    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith(MARKER)]
    assert len(lines) == 1, result.stdout + result.stderr
    answer = json.loads(lines[0].removeprefix(MARKER))
    assert answer["status_code"] == 503
    assert answer["body"] == {"status": "down", "database": "unreachable", "redis": "ok"}


@pytest.mark.django_db
def test_healthz_answers_whatever_the_host_while_other_urls_refuse_an_unknown_host(
    client, settings
):
    # Load balancers probe by IP address, which is not among ALLOWED_HOSTS.
    assert settings.DEBUG is False
    settings.SECURE_SSL_REDIRECT = True  # as in production: /healthz is not redirected either

    health = client.get("/healthz", HTTP_HOST="10.0.0.7")
    page = client.get("/login/", HTTP_HOST="10.0.0.7", secure=True)
    api = client.get("/api/v1/workspace", HTTP_HOST="10.0.0.7", secure=True)

    assert health.status_code == 200
    assert health.json() == {"status": "ok", "database": "ok", "redis": "ok"}
    assert page.status_code == 400
    assert api.status_code == 400


def test_healthz_refuses_a_post_with_405_naming_the_methods_it_takes(client):
    response = client.post("/healthz", b'{"events": NaN}', content_type="application/json")

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert "not allowed here" in response.json()["detail"]
