"""A Celery worker process killed (SIGKILL) in the middle of a PQL scoring run: the chunk it
held goes back to the queue and the run completes; the next run leaves the same scores as
a run nobody disturbed, and no workspace gets a second lead."""

import os
import signal

from celery import Celery
from django.db.models import Count
from django.utils import timezone

from pql.jobs import pqls_score
from pql.models import Lead, LeadActivity, Score, ScoreSnapshot, ScoringRun
from tests.factories import UserFactory, WorkspaceFactory
from tests.faults.servers import wait_for
from tests.pql.test_job import active, free_near_its_limit

CHUNK_SIZE = 4


def _scores() -> dict[int, tuple]:
    return {
        row[0]: row[1:]
        for row in Score.objects.values_list(
            "workspace_id", "model_id", "fit", "engagement", "is_pql", "lead_type", "components"
        )
    }


def _leads() -> list[tuple]:
    return sorted(Lead.objects.values_list("workspace_id", "type", "status", "top_reasons"))


def _finished(run_pk: int) -> ScoringRun | None:
    run = ScoringRun.objects.get(pk=run_pk)
    return run if run.status != ScoringRun.Status.RUNNING else None


def test_a_worker_killed_mid_run_leaves_the_same_scores_and_no_duplicate_leads(
    servers, redis_server
):
    for n in range(3):
        free_near_its_limit(f"Near {n}", f"near{n}.io")
    for n in range(9):
        active(f"Active {n}", f"active{n}.com")
    for n in range(24):
        WorkspaceFactory(name=f"Quiet {n}", created_by=UserFactory(email=f"q@quiet{n}.com"))
    # What a run nobody disturbs leaves, inline in this process.
    pqls_score(now=timezone.now(), chunk_size=1000)
    expected_scores, expected_leads = _scores(), _leads()
    assert len(expected_scores) == 36
    assert len(expected_leads) == 3
    for model in (LeadActivity, Lead, ScoreSnapshot, Score):
        model.objects.all().delete()

    worker = servers.worker(concurrency=1, HANDOFF_PQL_CHUNK_SIZE=str(CHUNK_SIZE))
    broker = Celery(broker=redis_server.url)
    before = ScoringRun.objects.order_by("pk").last().pk
    broker.send_task("pql.tasks.score_pqls")
    run = wait_for(
        lambda: ScoringRun.objects.filter(pk__gt=before, chunks_done__gte=2).first(),
        timeout=90,
        what=f"the run's first chunks:\n{worker.output()}",
    )
    assert run.chunks_done < run.chunk_count == 9, "the run ended before the kill"
    (pool,) = worker.children()
    os.kill(pool, signal.SIGKILL)  # the process scoring the run's chunks

    run = wait_for(lambda: _finished(run.pk), timeout=90, what=f"the run:\n{worker.output()}")
    assert "signal 9 (SIGKILL)" in worker.output()
    assert run.status == ScoringRun.Status.FINISHED, worker.output()
    assert sorted(run.done_chunks) == list(range(9))
    assert run.chunks_done == 9
    assert _scores() == expected_scores
    assert _leads() == expected_leads

    broker.send_task("pql.tasks.score_pqls")  # the next run
    wait_for(
        lambda: (
            _finished(ScoringRun.objects.order_by("pk").last().pk)
            and ScoringRun.objects.filter(pk__gt=run.pk).exists()
        ),
        timeout=90,
        what=f"the next run:\n{worker.output()}",
    )
    following = ScoringRun.objects.order_by("pk").last()
    assert following.status == ScoringRun.Status.FINISHED, worker.output()
    assert _scores() == expected_scores
    assert _leads() == expected_leads
    per_workspace = Lead.objects.values("workspace_id").annotate(n=Count("pk"))
    assert {row["n"] for row in per_workspace} == {1}
