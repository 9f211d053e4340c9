"""Shared set-up for benchmarks: Django on the DATABASE_URL/REDIS_URL given by
scripts/test_services.py, a fresh schema, and small timing helpers."""

import http.client
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORTS = Path(__file__).resolve().parent / "reports"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(app: str, *, port: int, env: dict[str, str], workers: int) -> subprocess.Popen:
    """gunicorn serving ``app`` on 127.0.0.1:``port``, once ``/healthz`` answers 200."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            app,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    # Generous: on a busy two-core machine, booting the workers can take most of a minute.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited at start (status {server.returncode})")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            pass
        time.sleep(0.2)
    server.kill()
    raise SystemExit("gunicorn did not answer /healthz within 120 s")


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "true")  # embedded-default secret key; never served
    import django
    from django.conf import settings

    django.setup()
    if "postgresql" not in settings.DATABASES["default"]["ENGINE"] or not settings.REDIS_URL:
        raise SystemExit("Benchmarks run on PostgreSQL and Redis: use `make bench`.")
    settings.DEBUG = False  # no query log
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    """Seconds per call, ``repeat`` calls."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def interleaved(
    a: Callable[[], object], b: Callable[[], object], *, rounds: int, batch: int
) -> tuple[list[float], list[float]]:
    """Alternate batches of ``a`` and ``b`` so drift of the machine hits both alike."""
    samples_a: list[float] = []
    samples_b: list[float] = []
    for _ in range(rounds):
        samples_a += timed(a, batch)
        samples_b += timed(b, batch)
    return samples_a, samples_b


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs"


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def write_report(name: str, text: str) -> Path:
    REPORTS.mkdir(exist_ok=True)
    path = REPORTS / name
    path.write_text(text)
    print(text)
    print(f"(report written to {path.relative_to(REPORTS.parent.parent)})")
    return path


# Figures for the one report (bench/run.py, bench/report.py) -------------------------------

OPERATORS = {
    "<=": lambda value, limit: value <= limit,
    ">=": lambda value, limit: value >= limit,
    "<": lambda value, limit: value < limit,
    ">": lambda value, limit: value > limit,
    "==": lambda value, limit: value == limit,
}


def target_met(fig: dict) -> bool | None:
    """Whether ``fig`` meets its target: the target's operator applied to the figure's value,
    or to its ratio to the baseline when the target is on the ratio; None without a target or
    without the number the target needs."""
    target = fig.get("target")
    if not target:
        return None
    subject = fig.get(target.get("on", "value"))
    if subject is None:
        return None
    return bool(OPERATORS[target["op"]](subject, target["limit"]))


def figure(
    name: str,
    value: float | bool | None,
    *,
    unit: str = "",
    baseline: str | None = None,
    baseline_value: float | None = None,
    ratio: float | None = None,
    target: tuple[str, str, float | bool] | None = None,
    note: str = "",
) -> dict:
    """One figure of a benchmark: its value, the baseline measured in the same run and the
    ratio to it, and the target as (``value`` or ``ratio``, operator, limit)."""
    if ratio is None and baseline_value and isinstance(value, int | float):
        ratio = value / baseline_value
    fig = {
        "figure": name,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "baseline_value": baseline_value,
        "ratio": ratio,
        "target": None
        if target is None
        else {"on": target[0], "op": target[1], "limit": target[2]},
        "note": note,
    }
    fig["met"] = target_met(fig)
    return fig


def write_figures(name: str, title: str, figures: list[dict], *, context: str = "") -> Path:
    """bench/reports/<name>.json: the figures ``bench.report`` puts into bench/REPORT.md."""
    import json

    REPORTS.mkdir(exist_ok=True)
    path = REPORTS / f"{name}.json"
    path.write_text(
        json.dumps(
            {"bench": name, "title": title, "context": context, "figures": figures}, indent=2
        )
    )
    return path


def quick() -> bool:
    """BENCH_QUICK=1 (``make bench QUICK=1``): small sizes, to develop a benchmark."""
    return os.environ.get("BENCH_QUICK", "") not in ("", "0")
