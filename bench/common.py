"""Shared set-up for benchmarks: Django on the DATABASE_URL/REDIS_URL given by
scripts/test_services.py, a fresh schema, and small timing helpers."""

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

REPORTS = Path(__file__).resolve().parent / "reports"


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
