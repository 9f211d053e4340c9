"""The chunked scoring job through a real Celery worker process, with Redis as broker and
the test's PostgreSQL database: the scores equal those of a run made inline."""

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection
from django.utils import timezone

from config.celery_app import app as celery_app
from pql.jobs import pqls_score
from pql.models import Lead, LeadActivity, Score, ScoreSnapshot, ScoringRun
from pql.tasks import score_pqls
from tests.factories import UserFactory, WorkspaceFactory
from tests.pql.test_job import active, free_near_its_limit

ROOT = Path(__file__).resolve().parents[2]
CHUNK_SIZE = 6
WAIT_SECONDS = 25


def _worker_environment() -> dict[str, str]:
    """The suite's environment, pointed at the test database (its name comes from
    pytest-django) with a small chunk size."""
    url = urlsplit(os.environ["DATABASE_URL"])
    test_db = connection.settings_dict["NAME"]
    return os.environ | {
        "DATABASE_URL": urlunsplit(url._replace(path=f"/{test_db}")),
        "HANDOFF_PQL_CHUNK_SIZE": str(CHUNK_SIZE),
        "DEBUG": "True",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }


def _start_worker() -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=prefork",
            "--concurrency=2",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=WARNING",
        ],
        cwd=ROOT,
        env=_worker_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _stop(worker: subprocess.Popen) -> str:
    worker.terminate()
    try:
        _, err = worker.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        worker.kill()
        _, err = worker.communicate()
    return err.decode(errors="replace")


def _scores() -> dict[int, tuple]:
    return {
        row[0]: row[1:]
        for row in Score.objects.values_list(
            "workspace_id", "model_id", "fit", "engagement", "is_pql", "lead_type", "components"
        )
    }


def _leads() -> list[tuple]:
    return sorted(Lead.objects.values_list("workspace_id", "type", "status", "top_reasons"))


# serialized_rollback: the published default model (a data migration) survives the flush.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_chunked_job_through_a_real_worker_scores_as_an_inline_run(settings):
    free_near_its_limit()
    free_near_its_limit("Umbrella", "umbrella.io")
    for n in range(8):
        active(f"Active {n}", f"active{n}.com")
    for n in range(30):
        WorkspaceFactory(name=f"Quiet {n}", created_by=UserFactory(email=f"q@quiet{n}.com"))
    now = timezone.now()
    inline = pqls_score(now=now, chunk_size=1000)
    assert inline.chunk_count == 1
    expected_scores, expected_leads = _scores(), _leads()
    assert len(expected_scores) == 40
    assert len(expected_leads) == 2
    for model in (LeadActivity, Lead, ScoreSnapshot, Score):
        model.objects.all().delete()

    settings.HANDOFF_PQL_CHUNK_SIZE = CHUNK_SIZE
    celery_app.conf.task_always_eager = False
    celery_app.control.purge()
    worker = _start_worker()
    try:
        # The dispatcher runs here: it starts the run and queues its chunks on Redis.
        answer = score_pqls()
        run = ScoringRun.objects.latest("pk")
        assert answer == f"run {run.pk}: 7 chunks"
        deadline = time.monotonic() + WAIT_SECONDS
        while run.status == ScoringRun.Status.RUNNING and time.monotonic() < deadline:
            time.sleep(0.2)
            run.refresh_from_db()
    finally:
        errors = _stop(worker)

    assert run.status == ScoringRun.Status.FINISHED, errors
    assert (run.chunks_done, run.done_chunks) == (7, list(range(7)))
    assert _scores() == expected_scores
    assert _leads() == expected_leads
    assert Score.objects.filter(run=run).count() == 40
