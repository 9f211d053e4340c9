"""Every benchmark in one run, then bench/REPORT.md.

Run by ``make bench`` under scripts/test_services.py, which starts PostgreSQL and Redis once
for the whole run. Each benchmark runs as its own process (``python -m bench.<name>``) on a
database of its own on that server (``bench_<name>``, created fresh) and a Redis database of
its own, so that one benchmark's data never meets another's; benchmarks that need Celery
workers or gunicorn start them themselves, on the same PostgreSQL and Redis. Progress (which
benchmark, its elapsed time and the run's) is printed every ``--tick`` seconds while each runs.

    make bench                      # all of them
    make bench ONLY=ingestion,pql   # a subset (comma list)
    make bench QUICK=1              # small sizes, to develop a benchmark
    make bench ONLY=pql BENCH_PQL_MAX=1000000   # PQL scoring at 1,000,000 workspaces too

Each benchmark writes bench/reports/<name>.json (its figures); this script adds its run time
and exit status, writes bench/reports/run.json (the machine and the total time; a subset run
is added to the last whole run's, whose total stays) and calls
``bench.report``, which writes bench/REPORT.md from every bench/reports/*.json there is.
"""

import argparse
import base64
import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

from bench.common import REPORTS, ROOT

BENCHES = ("plans", "ingestion", "webhooks", "pql", "queue", "metrics", "mixed")


def _say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _clock(seconds: float) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


TEMPLATE = "bench_template"


def _database_url(name: str, *, template: str | None = TEMPLATE) -> str:
    """A fresh database ``bench_<name>`` on the server of DATABASE_URL, a copy of the migrated
    template (migrations run once per run, not once per benchmark); its URL."""
    import psycopg

    url = os.environ["DATABASE_URL"]
    database = f"bench_{name}"
    with psycopg.connect(url.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}"')
        conn.execute(
            f'CREATE DATABASE "{database}"' + (f' TEMPLATE "{template}"' if template else "")
        )
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def migrate_template() -> None:
    """The database every benchmark's is copied from, migrated."""
    url = _database_url(TEMPLATE.removeprefix("bench_"), template=None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "--verbosity=0"],
        cwd=ROOT,
        env=os.environ | {"DATABASE_URL": url, "DEBUG": "true"},
        check=True,
    )


def _redis_url(index: int) -> str:
    parts = urlsplit(os.environ["REDIS_URL"])
    return urlunsplit(parts._replace(path=f"/{index}"))


def _ticker(name: str, started: float, run_started: float, every: float, stop: threading.Event):
    while not stop.wait(every):
        now = time.monotonic()
        _say(f"{name}: running for {_clock(now - started)} (whole run {_clock(now - run_started)})")


def run_one(name: str, index: int, *, run_started: float, tick: float) -> dict:
    """Run ``bench.<name>`` in its own process; its figures with run time and exit status."""
    result_path = REPORTS / f"{name}.json"
    result_path.unlink(missing_ok=True)
    env = os.environ | {
        "DATABASE_URL": _database_url(name),
        "REDIS_URL": _redis_url(index),
        "PYTHONPATH": str(ROOT),
    }
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    stop = threading.Event()
    ticker = threading.Thread(
        target=_ticker, args=(name, started, run_started, tick, stop), daemon=True
    )
    ticker.start()
    try:
        status = subprocess.call([sys.executable, "-m", f"bench.{name}"], cwd=ROOT, env=env)
    finally:
        stop.set()
    elapsed = time.monotonic() - started
    if result_path.exists():
        result = json.loads(result_path.read_text())
    else:
        result = {"bench": name, "title": name, "context": "", "figures": []}
    result |= {
        "elapsed_s": elapsed,
        "exit_status": status,
        "ran_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average": [load_before, os.getloadavg()[0]],
        "quick": os.environ.get("BENCH_QUICK", "") not in ("", "0"),
    }
    result_path.write_text(json.dumps(result, indent=2))
    return result


def machine() -> dict:
    """CPU model, cores, RAM, and the PostgreSQL, Redis and Python versions of this run."""
    import platform

    import psycopg
    import redis

    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo").read().splitlines():  # noqa: SIM115
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gib = None
    try:
        for line in open("/proc/meminfo").read().splitlines():  # noqa: SIM115
            if line.startswith("MemTotal:"):
                ram_gib = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    url = os.environ["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
    with psycopg.connect(url) as conn:
        postgres = conn.execute("SHOW server_version").fetchone()[0]
    redis_version = redis.Redis.from_url(os.environ["REDIS_URL"]).info("server")["redis_version"]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": ram_gib,
        "postgresql": postgres,
        "redis": redis_version,
        "python": platform.python_version(),
        "os": platform.platform(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma list of " + ", ".join(BENCHES))
    parser.add_argument("--quick", action="store_true", help="small sizes (BENCH_QUICK=1)")
    parser.add_argument("--tick", type=float, default=30, help="seconds between progress lines")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()] or list(BENCHES)
    unknown = [name for name in chosen if name not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}: choose from {', '.join(BENCHES)}")
    if "DATABASE_URL" not in os.environ or "REDIS_URL" not in os.environ:
        parser.error("run under scripts/test_services.py: use `make bench`")
    if args.quick:
        os.environ["BENCH_QUICK"] = "1"
    # PQL scoring at 1,000,000 workspaces (building them, then the job) does not fit in the
    # 20 minutes of a whole run on a two-core machine: it runs on request,
    # `make bench ONLY=pql BENCH_PQL_MAX=1000000`, and the report says what it takes.
    os.environ.setdefault("BENCH_PQL_MAX", "100000")
    # The per-workspace loop is the slow baseline (about 30 ms a workspace here when the
    # machine is quiet, several times that when it is shared): 1,000 workspaces of it.
    os.environ.setdefault("BENCH_PQL_LOOP_SIZE", "1000")
    # Twelve queue views at two sizes: 20 timed requests of each (p95 is the second slowest).
    os.environ.setdefault("BENCH_QUEUE_ROUNDS", "20")
    # 150 drawn Stripe customers (each with its in-order twin), about 1,500 deliveries.
    os.environ.setdefault("BENCH_WEBHOOK_WORKSPACES", "150")
    # The servers and workers the benchmarks start run with production settings, which may
    # require encryption keys: a Fernet key made for this run (harmless where unused).
    os.environ.setdefault(
        "HANDOFF_ENCRYPTION_KEYS", base64.urlsafe_b64encode(os.urandom(32)).decode()
    )
    os.environ.setdefault("BENCH_PQL_INLINE_MAX", "100000")
    REPORTS.mkdir(exist_ok=True)

    run_started = time.monotonic()
    load_before = os.getloadavg()
    _say("migrating the template database")
    migrate_template()
    failed = []
    for number, name in enumerate(chosen, start=1):
        _say(f"[{number}/{len(chosen)}] {name}: starting")
        result = run_one(name, BENCHES.index(name) + 1, run_started=run_started, tick=args.tick)
        missed = [fig["figure"] for fig in result["figures"] if fig.get("met") is False]
        if result["exit_status"] or not result["figures"]:
            failed.append(name)
        _say(
            f"[{number}/{len(chosen)}] {name}: done in {_clock(result['elapsed_s'])} "
            f"(exit {result['exit_status']}, {len(result['figures'])} figures, "
            f"{len(missed)} targets missed; whole run {_clock(time.monotonic() - run_started)})"
        )
    total = time.monotonic() - run_started
    this_run = {
        "machine": machine(),
        "total_s": total,
        "load_average": {"start": load_before, "end": os.getloadavg()},
        "benches": chosen,
        "quick": args.quick or os.environ.get("BENCH_QUICK", "") not in ("", "0"),
        "environment": {k: v for k, v in os.environ.items() if k.startswith("BENCH_")},
    }
    run_path = REPORTS / "run.json"
    if len(chosen) < len(BENCHES) and run_path.exists():
        # A subset: the whole run's total stays; this one is listed beside it.
        whole = json.loads(run_path.read_text())
        whole["partial_runs"] = [*whole.get("partial_runs", []), this_run]
        this_run = whole
    run_path.write_text(json.dumps(this_run, indent=2))
    from bench import report

    path = report.main()
    _say(f"all done in {_clock(total)}; {path.relative_to(ROOT)} written")
    if failed:
        _say(f"failed (no figures or a non-zero exit): {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
