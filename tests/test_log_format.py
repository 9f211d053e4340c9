"""``LOG_FORMAT=json``: the web processes, management commands and Celery workers write one
JSON object a line; an unknown format stops start-up. Each process reads its settings once,
so the settings are tried in fresh processes."""

import http.client
import json
import logging
import os
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from unittest.mock import ANY

from config.log_format import JsonFormatter

BASE_DIR = Path(__file__).resolve().parent.parent
LOG_A_LINE = (
    "import logging; "
    "logging.getLogger('handoff.ops').warning('Stripe said %s', 'no', extra={'event_id': 'evt_1'})"
)


def environment(**variables: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in {"LOG_FORMAT", "DEBUG"}}
    return env | {"DEBUG": "True"} | variables


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_the_json_formatter_writes_one_object_a_line_with_extras_and_the_traceback():
    logger = logging.getLogger("handoff.test")
    try:
        raise ValueError("card declined\nsecond line")
    except ValueError:
        record = logger.makeRecord(
            "handoff.test",
            logging.ERROR,
            __file__,
            1,
            "Delivery to %s failed",
            ("http://127.0.0.1:8000/billing/stripe/webhook/",),
            sys.exc_info(),
            extra={"workspace_id": 7},
        )
    record.created = 1_767_225_600.25  # 2026-01-01 00:00:00.250 UTC

    line = JsonFormatter().format(record)

    assert "\n" not in line
    entry = json.loads(line)
    assert entry["time"] == "2026-01-01T00:00:00.250+00:00"
    assert entry["level"] == "ERROR"
    assert entry["logger"] == "handoff.test"
    assert entry["message"] == "Delivery to http://127.0.0.1:8000/billing/stripe/webhook/ failed"
    assert entry["workspace_id"] == 7
    assert entry["exception"].startswith("Traceback")
    assert "ValueError: card declined\nsecond line" in entry["exception"]


def test_log_format_json_turns_every_log_line_of_a_process_into_json():
    result = manage("shell", "--no-imports", "-c", LOG_A_LINE, env=environment(LOG_FORMAT="json"))

    assert result.returncode == 0, result.stderr
    entries = json_lines(result.stderr)
    assert entries == [
        {
            "time": ANY,
            "level": "WARNING",
            "logger": "handoff.ops",
            "message": "Stripe said no",
            "event_id": "evt_1",
        }
    ], result.stderr
    assert datetime.fromisoformat(entries[0]["time"]).utcoffset() == timedelta(0)


def test_the_plain_format_stays_the_default():
    result = manage("shell", "--no-imports", "-c", LOG_A_LINE, env=environment())

    assert result.returncode == 0, result.stderr
    assert json_lines(result.stderr) == []
    assert "WARNING handoff.ops Stripe said no" in result.stderr


def test_an_unknown_log_format_stops_start_up_with_the_choices():
    result = manage("check", env=environment(LOG_FORMAT="xml"))

    assert result.returncode != 0
    assert "LOG_FORMAT is 'xml': set it to plain or json." in result.stderr


def test_a_celery_worker_logs_json_lines_with_log_format_json():
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "info", "--pool", "solo"],
        cwd=BASE_DIR,
        env=environment(LOG_FORMAT="json"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = worker.stderr.readline()
            if not line:
                break
            lines.append(line)
            if " ready." in line:
                break
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        worker.stderr.close()

    ready = [entry for entry in json_lines("".join(lines)) if entry["message"].endswith(" ready.")]
    assert len(ready) == 1, "".join(lines)
    assert ready[0]["logger"] == "celery.apps.worker"
    assert ready[0]["level"] == "INFO"


def test_gunicorn_with_the_shipped_log_config_writes_json_access_and_error_lines():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--log-config-json",
            "config/gunicorn_logging.json",
        ],
        cwd=BASE_DIR,
        env=environment(LOG_FORMAT="json"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/healthz?from=test", headers={"User-Agent": 'probe "1"'})
                conn.getresponse().read()
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)

    entries = json_lines(stderr)
    assert len(entries) == len(stderr.strip().splitlines()), stderr
    access = [entry for entry in entries if entry["logger"] == "gunicorn.access"]
    assert len(access) == 1, stderr
    assert '"GET /healthz?from=test HTTP/1.1" 200' in access[0]["message"]
    assert access[0]["message"].endswith('"probe \\"1\\""')
    assert any(entry["message"].startswith("Listening at: ") for entry in entries)
