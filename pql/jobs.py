"""The scoring job: every live workspace scored, a primary-key range at a time.

A run reads each range's inputs with a handful of set-based selectors the other apps own
(``workspace_signals``), scores them (``pql.scoring``), and in one transaction per chunk
upserts the scores and the day's snapshot, closes the leads of workspaces that now pay more,
and opens and expires leads (``pql.services``). No query runs per workspace.

Runs never overlap: a run starts under a PostgreSQL advisory lock only when no other run is
going, and a run left behind by a killed worker (older than ``STALE_AFTER``) is marked failed
first. Each chunk is one transaction and reports itself done inside it, so a killed worker
leaves a chunk either whole or absent; the next run rescores everything, and every write is
an upsert, so it repairs whatever a failed run left. A run scores as of its stored ``now``:
the same data and the same ``now`` give the same scores.

With several chunks and ``dispatch``, each chunk is a Celery task on whichever worker takes
it; the chunk that completes the count finishes the run (history retention).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts import selectors as accounts_selectors
from billing import selectors as billing_selectors
from billing.selectors import EffectiveLimits
from pql.models import ScoringModel, ScoringRun
from pql.scoring import ScoreResult, WorkspaceSignals, score
from pql.services import (
    leads_close_upgraded,
    leads_sync,
    score_history_prune,
    scores_upsert,
    scoring_model_published,
    scoring_run_chunk_done,
    scoring_run_start,
    scoring_runs_abandon,
)
from usage import selectors as usage_selectors

NOBODY_ACTIVE = usage_selectors.ActivePeople(week=0, previous_week=0, month=0)
# A run still "running" this long after it started lost its worker.
STALE_AFTER = timedelta(minutes=30)
# The key of the advisory lock that lets one run start at a time ("PQL" in ASCII).
ADVISORY_LOCK_KEY = 0x50514C


@dataclass(frozen=True)
class ChunkInputs:
    """What scoring knows about a range of workspaces, and what they pay."""

    signals: dict[int, WorkspaceSignals]
    plans: dict[int, EffectiveLimits]


def workspace_signals(
    *, pk_from: int, pk_to: int, now: datetime, daily_cap: int, replay: bool = False
) -> ChunkInputs:
    """The scoring inputs of every live workspace with a pk in ``[pk_from, pk_to)``, as of
    ``now``, from the selectors of accounts, usage and billing (a fixed number of queries).
    ``replay`` (a backtest of a past ``now``): whether a workspace paid then is read from the
    revenue ledger rather than today's subscription."""
    window = {"pk_from": pk_from, "pk_to": pk_to}
    profiles = accounts_selectors.workspace_profiles(**window, now=now, daily_cap=daily_cap)
    plans = billing_selectors.workspace_limits(**window, now=now, paid_from_ledger=replay)
    usage = usage_selectors.usage_period_totals(**window, now=now)
    people = usage_selectors.active_people(**window, now=now)
    paywall = usage_selectors.paywall_spread(**window, now=now)
    last_day = usage_selectors.last_active_day(**window, now=now)
    names = {key: _amount_words(m) for key, m in usage_selectors.metric_definitions().items()}
    today = now.astimezone(UTC).date()

    signals = {}
    for workspace_id, profile in profiles.items():
        plan = plans.get(workspace_id)
        limits = plan.limits if plan else {}
        source = profile.signup_source or {}
        activated = profile.activated_at is not None and profile.activated_at <= now
        active = people.get(workspace_id, NOBODY_ACTIVE)
        paywall_people, paywall_days = paywall.get(workspace_id, (0, 0))
        last = last_day.get(workspace_id)
        signals[workspace_id] = WorkspaceSignals(
            workspace_id=workspace_id,
            company_domain=profile.company_domain or None,
            team_size=_team_size(profile.team_size),
            use_case=profile.use_case or None,
            utm_source=source.get("utm_source"),
            utm_medium=source.get("utm_medium"),
            utm_campaign=source.get("utm_campaign"),
            referrer=source.get("referrer"),
            time_zone=profile.time_zone,
            is_paid=bool(plan and plan.is_paid),
            limits=limits,
            usage=usage.get(workspace_id, {}),
            metric_names=names,
            seats_used=profile.seats_used,
            seats_allowed=limits.get("seats"),
            active_people_7d=active.week,
            active_people_prev_7d=active.previous_week,
            active_people_30d=active.month,
            activated=activated,
            hours_to_first_value=(
                (profile.activated_at - profile.created_at).total_seconds() / 3600
                if activated
                else None
            ),
            paywall_people_14d=paywall_people,
            paywall_days_14d=paywall_days,
            invitations_sent_30d=profile.invitations_sent_30d,
            days_since_last_activity=None if last is None else (today - last).days,
        )
    return ChunkInputs(signals=signals, plans=plans)


def _amount_words(metric) -> str:
    """What an amount of the metric is called after a number: "10,000 API calls", "3
    projects", "500 MB of storage"."""
    name, unit = metric.name, metric.unit
    if unit.lower() in name.lower():
        return name if name[:2].isupper() else name[:1].lower() + name[1:]
    return f"{unit} of {name.lower()}"


def _team_size(answer: str) -> int | None:
    """The smallest team an answer to "how many people" allows ("11-50": 11; "201+": 201)."""
    digits = answer.split("-")[0].rstrip("+")
    return int(digits) if digits.isdigit() else None


def chunk_results(
    *, pk_from: int, pk_to: int, now: datetime, model: ScoringModel
) -> tuple[dict[int, ScoreResult], dict[int, int]]:
    """Every workspace of the range scored with ``model`` as of ``now``, and what each pays
    (MRR in cents)."""
    config = model.config()
    inputs = workspace_signals(
        pk_from=pk_from, pk_to=pk_to, now=now, daily_cap=model.daily_activity_cap
    )
    results = {workspace_id: score(s, config) for workspace_id, s in inputs.signals.items()}
    mrr = {workspace_id: plan.mrr_cents for workspace_id, plan in inputs.plans.items()}
    return results, mrr


def chunk_score(*, run_id: int, chunk: int, pk_from: int, pk_to: int) -> bool:
    """Score one chunk of a run and record it done, all in one transaction; True when it
    completed the run (then the history is pruned). A chunk of a run no longer running (it
    was abandoned) writes nothing."""
    with transaction.atomic():
        run = ScoringRun.objects.select_related("model").get(pk=run_id)
        if run.status != ScoringRun.Status.RUNNING:
            return False
        if pk_from < pk_to:
            results, mrr = chunk_results(pk_from=pk_from, pk_to=pk_to, now=run.now, model=run.model)
            scores_upsert(results=results, run=run, now=run.now)
            leads_close_upgraded(mrr=mrr, now=run.now)
            leads_sync(results=results, mrr=mrr, now=run.now, model=run.model)
        finished = scoring_run_chunk_done(run_id=run_id, chunk=chunk)
    if finished:
        score_history_prune(now=run.now)
    return finished


@dataclass(frozen=True)
class RunPlan:
    run: ScoringRun
    ranges: list[tuple[int, int]]


def run_begin(*, now: datetime, chunk_size: int) -> RunPlan | None:
    """Start a run with the published model, split into pk ranges of at most ``chunk_size``
    workspaces; None when another run is going."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])
        scoring_runs_abandon(started_before=timezone.now() - STALE_AFTER)
        if ScoringRun.objects.filter(status=ScoringRun.Status.RUNNING).exists():
            return None
        ranges = accounts_selectors.workspace_pk_ranges(size=chunk_size) or [(0, 0)]
        run = scoring_run_start(model=scoring_model_published(), now=now, chunk_count=len(ranges))
    return RunPlan(run=run, ranges=ranges)


def pqls_score(
    *,
    now: datetime | None = None,
    chunk_size: int | None = None,
    dispatch: Callable[[int, int, int, int], object] | None = None,
    progress: Callable[[int, int, int], None] | None = None,
) -> ScoringRun | None:
    """Score every live workspace as of ``now`` (default: now). With ``dispatch``, each
    chunk is handed to it (``run_id, chunk, pk_from, pk_to``: the Celery task queues it)
    and the run finishes when the last chunk does; without, the chunks run here, one after
    the other, calling ``progress(chunks_done, chunk_count, workspaces_scored)``. Returns
    the run, or None when another run is going."""
    plan = run_begin(
        now=now or timezone.now(), chunk_size=chunk_size or settings.HANDOFF_PQL_CHUNK_SIZE
    )
    if plan is None:
        return None
    run = plan.run
    if dispatch is not None and len(plan.ranges) > 1:
        for chunk, (pk_from, pk_to) in enumerate(plan.ranges):
            dispatch(run.pk, chunk, pk_from, pk_to)
        return run
    try:
        for chunk, (pk_from, pk_to) in enumerate(plan.ranges):
            chunk_score(run_id=run.pk, chunk=chunk, pk_from=pk_from, pk_to=pk_to)
            if progress is not None:
                progress(chunk + 1, len(plan.ranges), pk_to - pk_from)
    except BaseException:
        # This process gives up on the run: the next one need not wait for it to go stale.
        ScoringRun.objects.filter(pk=run.pk, status=ScoringRun.Status.RUNNING).update(
            status=ScoringRun.Status.FAILED, finished_at=timezone.now()
        )
        raise
    run.refresh_from_db()
    return run
