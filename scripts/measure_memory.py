#!/usr/bin/env python3
"""Measure the memory of Handoff's processes under a little traffic, as production runs them.

Usage (a throwaway PostgreSQL and Redis, as the test suite uses):

    python scripts/test_services.py -- python scripts/measure_memory.py [--seconds 60]

With DATABASE_URL and REDIS_URL from the environment, and DEBUG=False: migrate, collect the
static files, seed the demo data (``seed_demo --force``: this database is thrown away), then
start gunicorn (``config.wsgi``, 3 workers, on 127.0.0.1), a Celery worker (prefork, 2
children) and Celery beat. Logged-in clients browse the workspace pages, the pricing page, the
API docs and the admin, call the API with a workspace key and send invitations (which the
worker mails). Each process's resident memory is read from /proc/<pid>/status (VmRSS, and its
peak VmHWM) when idle and after the traffic, with its proportional share (Pss, from
/proc/<pid>/smaps_rollup: pages shared between forked processes counted once), and the
latency of each kind of request. Prints a Markdown report; nothing is written to the
project.
"""

import argparse
import http.client
import itertools
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
OWNER = ("owner@demo.handoff.test", "handoff-demo-owner")
BILLING_ADMIN = ("billing@demo.handoff.test", "handoff-demo-billing")
WORKSPACE_PAGES = ("", "members/", "api-keys/", "projects/", "usage/", "plan/", "billing/")
SITE_PAGES = ("/", "/pricing/", "/account/", "/api/docs/", "/api/schema/")
ADMIN_PAGES = ("/admin/", "/admin/billing/plan/", "/admin/accounts/workspace/")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Reading /proc ----------------------------------------------------------------------------


def status_kib(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise LookupError(field_name)


def pss_kib(pid: int) -> int | None:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return None


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (2nd field) is in parentheses and may hold spaces.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


@dataclass
class Reading:
    role: str
    pid: int
    rss_idle: int = 0
    rss_loaded: int = 0
    peak: int = 0
    pss_loaded: int | None = None
    cpu_before: float = 0.0
    cpu_used: float = 0.0


def processes(started: dict[str, subprocess.Popen]) -> list[tuple[str, int]]:
    """(role, pid) of every process to read: gunicorn's master and workers, Celery's worker
    and its pool children, beat."""
    found = [("gunicorn master", started["gunicorn"].pid)]
    found += [("gunicorn worker", pid) for pid in children_of(started["gunicorn"].pid)]
    found.append(("celery worker (main)", started["worker"].pid))
    found += [("celery worker (pool child)", pid) for pid in children_of(started["worker"].pid)]
    found.append(("celery beat", started["beat"].pid))
    return found


# A tiny HTTP client that behaves like a browser behind the TLS proxy --------------------


@dataclass
class Client:
    port: int
    cookies: dict[str, str] = field(default_factory=dict)
    bearer: str = ""

    def request(self, method: str, path: str, body: dict | str | None = None) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        origin = f"https://127.0.0.1:{self.port}"
        headers = {"Host": f"127.0.0.1:{self.port}", "X-Forwarded-Proto": "https"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self.bearer:
            headers["Authorization"] = f"Bearer {self.bearer}"
        data = None
        if isinstance(body, dict):
            data = urlencode(body | {"csrfmiddlewaretoken": self.cookies.get("csrftoken", "")})
            headers |= {
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": origin,
                "Referer": origin + path,
                "X-CSRFToken": self.cookies.get("csrftoken", ""),
            }
        elif isinstance(body, str):
            data = body
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        for header in response.headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie(header)
            for name, morsel in cookie.items():
                self.cookies[name] = morsel.value
        location = response.headers.get("Location", "")
        payload = response.read().decode(errors="replace")
        conn.close()
        return response.status, location or payload

    def log_in(self, email: str, password: str) -> str:
        self.request("GET", "/login/")
        status, location = self.request(
            "POST", "/login/", {"username": email, "password": password}
        )
        if status != 302:
            raise SystemExit(f"log-in as {email} failed: {status}")
        return location


@dataclass
class Traffic:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def timed(self, client: Client, kind: str, method: str, path: str, body=None) -> None:
        start = time.perf_counter()
        try:
            status, text = client.request(method, path, body)
        except OSError as exc:
            status, text = 0, str(exc)
        elapsed = time.perf_counter() - start
        with self.lock:
            self.latencies[kind].append(elapsed)
            if status >= 500 or status == 0:
                self.errors.append(f"{method} {path}: {status} {text[:200]}")


def browse(port: int, slug: str, api_key: str, deadline: float, traffic: Traffic, n: int) -> None:
    """One person's session: workspace pages, site pages, the API, an invitation now and
    then; every fourth client is a billing admin in the admin instead."""
    client = Client(port)
    if n % 4 == 3:
        client.log_in(*BILLING_ADMIN)
        for path in itertools.cycle(ADMIN_PAGES):
            if time.monotonic() > deadline:
                return
            traffic.timed(client, "admin page", "GET", path)
        return
    client.log_in(*OWNER)
    api = Client(port, bearer=api_key)
    for round_ in itertools.count():
        if time.monotonic() > deadline:
            return
        for page in WORKSPACE_PAGES:
            traffic.timed(client, "workspace page", "GET", f"/w/{slug}/{page}")
        for page in SITE_PAGES:
            traffic.timed(client, "site page", "GET", page)
        traffic.timed(api, "API GET", "GET", "/api/v1/entitlements")
        events = [
            {
                "metric": "api_calls",
                "quantity": 1,
                "idempotency_key": f"mem-{n}-{round_}-{i}-{secrets.token_hex(4)}",
                "timestamp": datetime.now(UTC).isoformat(),
            }
            for i in range(10)
        ]
        traffic.timed(
            api,
            "API POST 10 events",
            "POST",
            "/api/v1/usage/events",
            json.dumps({"events": events}),
        )
        if round_ % 5 == 0:
            email = f"guest-{n}-{round_}-{secrets.token_hex(3)}@example.com"
            traffic.timed(
                client,
                "invitation (mailed by the worker)",
                "POST",
                f"/w/{slug}/members/invite/",
                {"email": email, "role": "member"},
            )


# Running it -------------------------------------------------------------------------------


def manage(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def output(log, env: dict[str, str]) -> dict:
    """Popen arguments: run in the project with ``env``, all output to ``log``."""
    return {"stdout": log, "stderr": subprocess.STDOUT, "cwd": ROOT, "env": env}


def wait_healthy(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if Client(port).request("GET", "/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("gunicorn did not answer /healthz")


def mib(kib: int | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.0f}"


def report(readings: list[Reading], traffic: Traffic, args, seconds: float) -> str:
    lines = [
        f"Handoff memory per process, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; "
        f"{args.clients} clients for {seconds:.0f} s.",
        "",
        "| process | pid | RSS idle (MiB) | RSS after traffic | peak RSS (VmHWM) | PSS after |",
        "|---|---|---|---|---|---|",
    ]
    for r in readings:
        lines.append(
            f"| {r.role} | {r.pid} | {mib(r.rss_idle)} | {mib(r.rss_loaded)} | {mib(r.peak)} "
            f"| {mib(r.pss_loaded)} |"
        )
    total_rss = sum(r.rss_loaded for r in readings)
    total_pss = sum(r.pss_loaded or 0 for r in readings)
    lines += [
        f"| **all** | | {mib(sum(r.rss_idle for r in readings))} | {mib(total_rss)} | "
        f"| {mib(total_pss)} |",
        "",
        "| requests | count | p50 (ms) | p95 (ms) |",
        "|---|---|---|---|",
    ]
    total = 0
    for kind, samples in sorted(traffic.latencies.items()):
        total += len(samples)
        ordered = sorted(samples)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        lines.append(
            f"| {kind} | {len(samples)} | {statistics.median(samples) * 1000:.0f} "
            f"| {p95 * 1000:.0f} |"
        )
    web_cpu = sum(r.cpu_used for r in readings if r.role == "gunicorn worker")
    worker_cpu = sum(r.cpu_used for r in readings if r.role.startswith("celery worker"))
    lines += [
        "",
        f"{total} requests in {seconds:.0f} s: {total / seconds:.1f} requests/s with "
        f"{args.workers} gunicorn workers{' (--preload)' if args.preload else ''}; "
        f"{len(traffic.errors)} errors (5xx or no answer).",
    ]
    lines.append(
        f"CPU time of the gunicorn workers: {web_cpu:.1f} s, {web_cpu / total * 1000:.1f} ms "
        f"a request on average (so one busy core serves about {total / web_cpu:.0f} requests/s "
        f"of this mix, PostgreSQL's and Redis's own CPU aside); Celery workers: {worker_cpu:.1f} s."
    )
    lines += [f"  error: {error}" for error in traffic.errors[:10]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long traffic runs")
    parser.add_argument("--clients", type=int, default=6, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--concurrency", type=int, default=2, help="Celery pool children")
    parser.add_argument(
        "--preload", action="store_true", help="gunicorn --preload: workers share the app's code"
    )
    args = parser.parse_args()
    if not (
        os.environ.get("DATABASE_URL", "").startswith("postgres") and os.environ.get("REDIS_URL")
    ):
        raise SystemExit(
            "Needs PostgreSQL and Redis: python scripts/test_services.py -- "
            "python scripts/measure_memory.py"
        )

    tmp = Path(tempfile.mkdtemp(prefix="handoff-memory-"))
    port = free_port()
    env = {
        **os.environ,
        "DEBUG": "False",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": "127.0.0.1",
        "HANDOFF_SITE_URL": f"http://127.0.0.1:{port}",
        "STRIPE_WEBHOOK_SECRET": f"whsec_{secrets.token_urlsafe(24)}",
        "HANDOFF_DEMO_BILLING": "True",
        "HANDOFF_API_RATE_PER_MINUTE": "1000000",
        "STATIC_ROOT": str(tmp / "static"),
        "LOG_LEVEL": "WARNING",
    }
    env.pop("STRIPE_SECRET_KEY", None)
    started: dict[str, subprocess.Popen] = {}
    logs: dict = {}
    try:
        print("migrate, collectstatic, seed_demo --force ...", file=sys.stderr, flush=True)
        manage("migrate", "--noinput", env=env)
        manage("collectstatic", "--noinput", env=env)
        seeded = manage("seed_demo", "--force", env=env)
        api_key = next(word for word in seeded.split() if word.startswith("hk_"))

        logs = {name: (tmp / f"{name}.log").open("w") for name in ("gunicorn", "worker", "beat")}
        started["gunicorn"] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(args.workers),
                "--log-level",
                "warning",
                *(["--preload"] if args.preload else []),
            ],
            **output(logs["gunicorn"], env),
        )
        started["worker"] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-l",
                "warning",
                "--concurrency",
                str(args.concurrency),
            ],
            **output(logs["worker"], env),
        )
        started["beat"] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "-l",
                "warning",
                "--schedule",
                str(tmp / "celerybeat-schedule"),
            ],
            **output(logs["beat"], env),
        )
        wait_healthy(port)
        time.sleep(10)  # the Celery pool children start and import the project

        readings = [Reading(role, pid) for role, pid in processes(started)]
        for r in readings:
            r.rss_idle = status_kib(r.pid, "VmRSS")

        owner = Client(port)
        owner.log_in(*OWNER)
        status, location = owner.request("GET", "/")  # one workspace: straight to it
        if status != 302 or not urlsplit(location).path.startswith("/w/"):
            raise SystemExit(f"the demo owner's home did not lead to their workspace: {status}")
        slug = urlsplit(location).path.split("/")[2]

        print(f"traffic for {args.seconds:.0f} s ...", file=sys.stderr, flush=True)
        for r in readings:
            r.cpu_before = cpu_seconds(r.pid)
        traffic = Traffic()
        start = time.monotonic()
        deadline = start + args.seconds
        threads = [
            threading.Thread(target=browse, args=(port, slug, api_key, deadline, traffic, n))
            for n in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.monotonic() - start
        time.sleep(5)  # the worker sends the last invitations

        for r in readings:
            r.rss_loaded = status_kib(r.pid, "VmRSS")
            r.peak = status_kib(r.pid, "VmHWM")
            r.pss_loaded = pss_kib(r.pid)
            r.cpu_used = cpu_seconds(r.pid) - r.cpu_before
        print(report(readings, traffic, args, seconds))
        if traffic.errors:
            print("\nThe end of gunicorn's log:\n" + (tmp / "gunicorn.log").read_text()[-3000:])
    finally:
        for process in started.values():
            process.send_signal(signal.SIGTERM)
        for process in started.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs.values():
            log.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
