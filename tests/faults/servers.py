"""The servers the fault tests start and break: PostgreSQL and Redis (with the harness's
helpers, ``scripts/test_services.py``), gunicorn, Celery workers and beat, in production
mode on 127.0.0.1, and a small HTTP client that speaks to gunicorn as the TLS-terminating
proxy would."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis as redis_client

from scripts import test_services
from tests.test_config import BASE_DIR, production

HOST = "handoff.example.com"
WEBHOOK_SECRET = "whsec_faults_" + "x" * 32
STOP_TIMEOUT = 10


def wait_for(condition: Callable[[], object], *, timeout: float, what: str) -> object:
    """Poll ``condition`` until it returns something true; fail after ``timeout`` seconds
    (a bound against hanging, not a speed check)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


def _stop(process: subprocess.Popen | None, sig: signal.Signals = signal.SIGTERM) -> None:
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(sig)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.kill()
        process.wait()


class Postgres:
    """A PostgreSQL cluster of the tests' own: ``stop()`` (fast shutdown) and ``start()``
    again on the same port and data."""

    def __init__(self, bindir: Path, tmp: Path) -> None:
        self.bindir, self.tmp = bindir, tmp
        test_services.init_postgres(bindir, tmp)
        (tmp / "sock").mkdir()
        if os.geteuid() == 0:
            import shutil

            shutil.chown(tmp / "sock", "postgres", "postgres")
        self.port = test_services.free_port()
        self.process: subprocess.Popen | None = None
        self.start()
        client = ["-h", "127.0.0.1", "-p", str(self.port), "-U", test_services.PG_USER]
        createdb = [test_services.pg_tool(bindir, "createdb"), *client, test_services.PG_DB]
        result = test_services.run_tool(createdb)
        assert result.returncode == 0, result.stderr

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        if not self.running:
            self.process = test_services.launch_postgres(self.bindir, self.tmp, self.port)

    def stop(self) -> None:
        """Fast shutdown: open transactions are rolled back, sessions cut."""
        _stop(self.process, signal.SIGINT)


class Redis:
    """A persistent Redis of the tests' own: ``stop()`` and ``start()`` again, its data kept
    (an append-only file), as a production Redis restarts."""

    def __init__(self, binary: Path, tmp: Path) -> None:
        self.binary, self.tmp = binary, tmp
        self.port = test_services.free_port()
        self.process: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        if not self.running:
            self.process = test_services.launch_redis(
                self.binary, self.tmp, self.port, persistent=True
            )

    def stop(self) -> None:
        """SHUTDOWN as on SIGTERM: the append-only file is flushed first."""
        _stop(self.process, signal.SIGTERM)

    def client(self) -> redis_client.Redis:
        return redis_client.Redis.from_url(self.url, socket_timeout=2)


def server_environment(*, database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The documented production environment, on the tests' services."""
    return production(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        ALLOWED_HOSTS=HOST,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(BASE_DIR),
        **extra,
    )


class Process:
    """A server process started by a test, its output in a log file; ``stop()`` ends it
    (SIGKILL of its whole process group)."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                command,
                cwd=BASE_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]

    def alive(self) -> bool:
        return self.process.poll() is None

    def children(self) -> list[int]:
        """The pids of this process's children (gunicorn's and Celery's pool workers)."""
        path = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        with contextlib.suppress(OSError):
            return [int(pid) for pid in path.read_text().split()]
        return []

    def stop(self) -> None:
        """SIGKILL to the whole process group (its pool workers too): the test is over, and
        nothing it left half-done matters to the next one, which starts from a flushed
        database and an empty Redis."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait()


class Gunicorn(Process):
    def __init__(self, env: dict[str, str], log: Path, *, workers: int = 2) -> None:
        self.port, self.workers = test_services.free_port(), workers
        command = [sys.executable, "-m", "gunicorn", "config.wsgi"]
        command += [f"--bind=127.0.0.1:{self.port}", f"--workers={workers}"]
        command += ["--timeout=30", "--graceful-timeout=5"]
        super().__init__(command, env, log)

    def wait_ready(self) -> "Gunicorn":
        wait_for(self._ready, timeout=60, what=f"gunicorn to start:\n{self.output()}")
        wait_for(
            lambda: len(self.children()) == self.workers,
            timeout=60,
            what=f"gunicorn's workers:\n{self.output()}",
        )
        return self

    def _ready(self) -> bool:
        assert self.alive(), self.output()
        with contextlib.suppress(OSError):
            return self.request("/healthz", host="10.0.0.1").status in (200, 503)
        return False

    def request(self, path: str, *, host: str = HOST, timeout: float = 15, **kwargs) -> "Answer":
        """One request as the TLS-terminating proxy forwards it. A connection the server
        dropped without an answer raises (``ConnectionError``, ``http.client`` errors)."""
        headers = {"Host": host, "X-Forwarded-Proto": "https"} | kwargs.pop("headers", {})
        if isinstance(kwargs.get("data"), dict | list):
            kwargs["data"] = json.dumps(kwargs["data"]).encode()
            headers.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(  # noqa: S310 - a local http URL
            f"http://127.0.0.1:{self.port}{path}", headers=headers, **kwargs
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310
                return Answer(response.status, dict(response.headers), response.read().decode())
        except urllib.error.HTTPError as error:
            return Answer(error.code, dict(error.headers), error.read().decode())


class CeleryWorker(Process):
    def __init__(self, env: dict[str, str], log: Path, *, concurrency: int = 1) -> None:
        command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=prefork"]
        command += [f"--concurrency={concurrency}", "--without-gossip", "--without-mingle"]
        command += ["--without-heartbeat", "--loglevel=INFO", "-n", f"faults-{os.getpid()}@%h"]
        super().__init__(command, env, log)

    def wait_ready(self) -> "CeleryWorker":
        wait_for(
            lambda: "ready." in self.output() or not self.alive(),
            timeout=60,
            what=f"the Celery worker:\n{self.output()}",
        )
        assert self.alive(), self.output()
        return self


class CeleryBeat(Process):
    def __init__(self, env: dict[str, str], log: Path) -> None:
        schedule = log.with_suffix(".schedule")
        command = [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO"]
        command += [f"--schedule={schedule}"]
        super().__init__(command, env, log)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> dict:
        return json.loads(self.body)


def port_closed(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return False
    return True
