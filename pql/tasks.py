"""The pql app's Celery tasks: the scoring run (on beat, hourly by default) and its chunks,
and closing a lead when its workspace upgrades."""

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from billing import selectors as billing_selectors
from pql import jobs
from pql.models import Lead
from pql.services import lead_close_won

CHUNK_TASK_OPTIONS = {
    # A chunk is one transaction: when its worker dies before acknowledging it, the broker
    # hands it to another worker and it runs again (its writes are upserts and it counts
    # itself done once).
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": 2,
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(name="pql.tasks.score_pqls")
def score_pqls() -> str:
    """Start a scoring run; its chunks go to whichever workers are free."""
    run = jobs.pqls_score(dispatch=lambda *chunk: score_pqls_chunk.delay(*chunk))
    return "another run is going" if run is None else f"run {run.pk}: {run.chunk_count} chunks"


@shared_task(name="pql.tasks.score_pqls_chunk", **CHUNK_TASK_OPTIONS)
def score_pqls_chunk(run_id: int, chunk: int, pk_from: int, pk_to: int) -> str:
    finished = jobs.chunk_score(run_id=run_id, chunk=chunk, pk_from=pk_from, pk_to=pk_to)
    return f"run {run_id} chunk {chunk}" + (": run finished" if finished else "")


@shared_task(name="pql.tasks.lead_close_won", **CHUNK_TASK_OPTIONS)
def lead_close_won_task(workspace_id: int, via: str) -> str:
    """Close the workspace's open lead as won (``via`` self_serve or sales) with the MRR it
    pays now; nothing when it has none open."""
    plans = billing_selectors.workspace_limits(
        pk_from=workspace_id, pk_to=workspace_id + 1, now=timezone.now()
    )
    plan = plans.get(workspace_id)
    lead = lead_close_won(
        workspace_id=workspace_id, via=via, mrr_after_cents=plan.mrr_cents if plan else 0
    )
    return "no open lead" if lead is None else f"lead {lead.pk} won ({Lead.WonVia(via).label})"
