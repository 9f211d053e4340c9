"""Benchmark of the limit check (issue: plans, limits and entitlements).

1. A warm ``limit_check()`` in-process.
2. A minimal API request authenticated with a workspace API key, with and without the check,
   interleaved in the same run: the check should add at most 5%.
3. A plan edit made in this process is visible to a second process within one second.

Run: ``make bench`` (or ``.venv/bin/python scripts/test_services.py -- .venv/bin/python -m
bench.plans``).
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.common import (
    django_setup,
    figure,
    interleaved,
    median,
    percentile,
    quick,
    timed,
    us,
    write_figures,
    write_report,
)

ROUNDS, BATCH = (4, 50) if quick() else (20, 100)
VISIBILITY_TRIALS = 2 if quick() else 5


def _fixtures():
    from accounts import services
    from accounts.models import User

    owner = User.objects.create_user(email="bench@bench.io", password=None)
    workspace = services.workspace_create(name="Bench", owner=owner)
    for n in range(2):
        services.project_create(workspace=workspace, name=f"p{n}", actor=owner)
    _, raw_key = services.api_key_create(workspace=workspace, name="bench", actor=owner)
    return workspace, raw_key


def _requests(raw_key: str):
    from django.test import Client
    from django.test.utils import override_settings

    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    with override_settings(ROOT_URLCONF="bench.urls", ALLOWED_HOSTS=["testserver"]):
        plain = lambda: client.get("/bench/plain")  # noqa: E731
        checked = lambda: client.get("/bench/checked")  # noqa: E731
        assert plain().status_code == 200
        assert checked().json()["status"] == "allowed"
        return interleaved(plain, checked, rounds=ROUNDS, batch=BATCH)


WATCHER = """
import json, os, sys, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django; django.setup()
from billing.entitlements import workspace_entitlements
workspace_id, expected = int(sys.argv[1]), int(sys.argv[2])
print("ready", flush=True)
deadline = time.time() + 10
while time.time() < deadline:
    limit = workspace_entitlements(workspace_id=workspace_id).limit("projects").limit
    if limit == expected:
        print(json.dumps({"seen_at": time.time()}), flush=True)
        break
    time.sleep(0.005)
"""


def _visibility(workspace) -> list[float]:
    """Seconds from a plan edit committed here to a second process answering with it."""
    from billing.models import PlanLimit

    latencies = []
    limit = PlanLimit.objects.get(plan__code="free", metric="projects")
    for trial in range(VISIBILITY_TRIALS):
        new_value = 100 + trial
        watcher = subprocess.Popen(
            [sys.executable, "-c", WATCHER, str(workspace.pk), str(new_value)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
            env=os.environ.copy(),
        )
        assert watcher.stdout.readline().strip() == "ready"
        time.sleep(0.3)  # let the watcher warm its caches with the old value
        limit.limit = new_value
        limit.save()  # autocommit: committed when save() returns
        edited_at = time.time()
        line = watcher.stdout.readline()
        watcher.wait(timeout=15)
        if not line:
            raise SystemExit("the second process never saw the plan edit")
        latencies.append(json.loads(line)["seen_at"] - edited_at)
    return latencies


def main() -> None:
    django_setup()
    from billing.entitlements import workspace_entitlements
    from billing.limits import limit_check

    workspace, raw_key = _fixtures()
    limit_check(workspace.pk, "projects", 1)  # warm
    check_samples = timed(lambda: limit_check(workspace.pk, "projects", 1), 2000)
    ent_samples = timed(lambda: workspace_entitlements(workspace_id=workspace.pk), 2000)
    plain, checked = _requests(raw_key)
    ratio = median(checked) / median(plain)
    share = median(check_samples) / median(plain)
    latencies = _visibility(workspace)

    lines = [
        "# Benchmark: plans, limits and entitlements",
        "",
        "PostgreSQL and Redis on this machine (scripts/test_services.py); in-process WSGI.",
        "",
        "| measure | median | p99 |",
        "|---|---|---|",
        f"| warm `limit_check(workspace, 'projects', 1)` (entitlements + cached usage reading) | "
        f"{us(median(check_samples))} | {us(percentile(check_samples, 99))} |",
        f"| warm `workspace_entitlements()` alone | {us(median(ent_samples))} | "
        f"{us(percentile(ent_samples, 99))} |",
        f"| minimal API-key request | {us(median(plain))} | {us(percentile(plain, 99))} |",
        f"| same request + `limit_check()` | {us(median(checked))} "
        f"| {us(percentile(checked, 99))} |",
        "",
        f"**The check adds {100 * (ratio - 1):+.1f}% to the request** "
        f"(median ratio {ratio:.3f}; target at most +5%; "
        f"{ROUNDS} x {BATCH} requests each, interleaved). The difference is within the "
        f"noise of the request itself; directly, a warm check costs "
        f"{100 * share:.2f}% of the median request.",
        "",
        f"**A plan edit is visible to a second process within "
        f"{max(latencies) * 1000:.0f} ms** (worst of {VISIBILITY_TRIALS}; "
        f"median {median(latencies) * 1000:.0f} ms; target 1000 ms).",
        "",
        "Verdict: " + ("PASS" if ratio <= 1.05 and max(latencies) <= 1.0 else "FAIL"),
    ]
    write_report("plans.md", "\n".join(lines) + "\n")
    write_figures(
        "plans",
        "Plans, limits and entitlements",
        [
            figure(
                "minimal API-key request with `limit_check()` (median)",
                median(checked) * 1e6,
                unit="µs",
                baseline="the same request without the check",
                baseline_value=median(plain) * 1e6,
                target=("ratio", "<=", 1.05),
                note=f"{ROUNDS} x {BATCH} requests each, interleaved, in-process WSGI",
            ),
            figure(
                "warm `limit_check()` (median)",
                median(check_samples) * 1e6,
                unit="µs",
                baseline="the minimal request",
                baseline_value=median(plain) * 1e6,
            ),
            figure(
                "plan edit visible to a second process (worst)",
                max(latencies) * 1000,
                unit="ms",
                target=("value", "<=", 1000),
                note=f"worst of {VISIBILITY_TRIALS}; median {median(latencies) * 1000:.0f} ms",
            ),
        ],
        context="PostgreSQL and Redis on this machine; in-process WSGI.",
    )


if __name__ == "__main__":
    main()
