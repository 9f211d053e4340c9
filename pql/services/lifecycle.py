"""Writes of the pql app: scoring model versions, scoring runs, scores and their history, and
the lead lifecycle (open, expire, close as won).

The scoring job calls them per chunk of workspaces, a pk range: every query here reads or
writes that range with a handful of bulk statements, never one query per workspace and never
an ``IN (…)`` list of workspace ids. A suggested order per chunk: ``scores_upsert``, then
``leads_close_upgraded``, then ``leads_sync``.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import DateField, Exists, Max, OuterRef
from django.db.models.functions import TruncWeek
from django.utils import timezone

from accounts.errors import ApplicationError, Conflict
from accounts.models import User
from pql import events
from pql.models import (
    OPEN_LEAD_STATUSES,
    Lead,
    LeadActivity,
    LeadStatus,
    Score,
    ScoreSnapshot,
    ScoringModel,
    ScoringRun,
    Signal,
)
from pql.scoring import ComponentsJson, ScoreResult
from pql.services.queue import queue_settings, round_robin_reps, sla_due

DEFAULT_CURRENCY = "usd"
BATCH_SIZE = 2000


def _pk_range(workspace_ids: Mapping[int, object]) -> tuple[int, int]:
    """The smallest and largest workspace id of a chunk: queries read the range, not a list."""
    return min(workspace_ids), max(workspace_ids)


def _day(now: datetime) -> date:
    return now.astimezone(UTC).date()


# Scoring models -------------------------------------------------------------------------------


def scoring_model_published() -> ScoringModel:
    """The version in use (a migration publishes the first one)."""
    return ScoringModel.objects.get(status=ScoringModel.Status.PUBLISHED)


def scoring_model_next_version() -> int:
    """The number the next version takes (the unique constraint settles a race)."""
    return (ScoringModel.objects.aggregate(top=Max("version"))["top"] or 0) + 1


@transaction.atomic
def scoring_model_new_version(*, source: ScoringModel, actor: User | None) -> ScoringModel:
    """A new draft version with the settings and signals of ``source``, which stays as it
    is: a published version is never changed, it is replaced."""
    copy = ScoringModel.objects.get(pk=source.pk)
    signals = list(copy.signals.all())
    copy.pk = None
    copy.version = scoring_model_next_version()
    copy.status = ScoringModel.Status.DRAFT
    copy.published_at = None
    copy.created_by = actor
    copy.derived_from = source
    copy.created_at = timezone.now()
    copy.save()
    for signal in signals:
        signal.pk = None
        signal.model = copy
    Signal.objects.bulk_create(signals)
    return copy


@transaction.atomic
def scoring_model_publish(
    *, model: ScoringModel, actor: User | None, now: datetime | None = None
) -> ScoringModel:
    """Publish a draft version; the version published until now is retired. Scores from
    the next run on record the new version."""
    now = now or timezone.now()
    locked = list(
        ScoringModel.objects.select_for_update()
        .filter(status=ScoringModel.Status.PUBLISHED)
        .order_by("pk")
    )
    model = ScoringModel.objects.select_for_update().get(pk=model.pk)
    if model.status != ScoringModel.Status.DRAFT:
        raise Conflict(f"Version {model.version} is {model.status}: only a draft is published.")
    if not model.signals.exists():
        raise ApplicationError(f"Version {model.version} has no signals to score with.")
    for current in locked:
        current.status = ScoringModel.Status.RETIRED
        current.save(update_fields=["status", "updated_at"])
    model.status = ScoringModel.Status.PUBLISHED
    model.published_at = now
    model.save(update_fields=["status", "published_at", "updated_at"])
    return model


# Scoring runs ---------------------------------------------------------------------------------


@transaction.atomic
def scoring_run_start(
    *, model: ScoringModel, now: datetime, chunk_count: int, started_at: datetime | None = None
) -> ScoringRun:
    """A run scoring with ``model`` as of ``now``, split into ``chunk_count`` chunks."""
    if chunk_count < 1:
        raise ApplicationError("A scoring run has at least one chunk.", field="chunk_count")
    return ScoringRun.objects.create(
        model=model, now=now, chunk_count=chunk_count, started_at=started_at or timezone.now()
    )


@transaction.atomic
def scoring_run_chunk_done(*, run_id: int, chunk: int, now: datetime | None = None) -> bool:
    """Record chunk number ``chunk`` (0-based) of a run as done; a chunk reported twice (a
    redelivered task) counts once. True for the one call that completes the run, which is
    then finished; False otherwise (also for a run no longer running)."""
    run = ScoringRun.objects.select_for_update().get(pk=run_id)
    if run.status != ScoringRun.Status.RUNNING:
        return False
    if not 0 <= chunk < run.chunk_count:
        raise ApplicationError(f"Run {run_id} has no chunk {chunk}.", field="chunk")
    if chunk in run.done_chunks:
        return False
    run.done_chunks = sorted([*run.done_chunks, chunk])
    run.chunks_done = len(run.done_chunks)
    fields = ["done_chunks", "chunks_done"]
    if run.chunks_done == run.chunk_count:
        run.status = ScoringRun.Status.FINISHED
        run.finished_at = now or timezone.now()
        fields += ["status", "finished_at"]
    run.save(update_fields=fields)
    return run.status == ScoringRun.Status.FINISHED


@transaction.atomic
def scoring_runs_abandon(*, started_before: datetime, now: datetime | None = None) -> int:
    """Mark the runs still running that started before ``started_before`` (their worker was
    killed) as failed, so the next run repairs what they left: it rescores every workspace,
    and scores and the day's snapshot are upserts. Returns how many were marked."""
    return ScoringRun.objects.filter(
        status=ScoringRun.Status.RUNNING, started_at__lt=started_before
    ).update(status=ScoringRun.Status.FAILED, finished_at=now or timezone.now())


# Scores ---------------------------------------------------------------------------------------


@transaction.atomic
def scores_upsert(*, results: Mapping[int, ScoreResult], run: ScoringRun, now: datetime) -> int:
    """Write each workspace's current score and its snapshot for ``now``'s day (UTC): a
    rerun replaces rather than adds, and a row that would not change is not rewritten.
    Returns how many workspaces.

    On PostgreSQL the rows are copied (``COPY``) into a temporary table and merged with one
    ``INSERT … SELECT … ON CONFLICT DO UPDATE … WHERE`` the row changed per table; elsewhere
    (the embedded SQLite) two bulk upserts."""
    if not results:
        return 0
    if connection.vendor == "postgresql":
        _scores_merge(results, run=run, now=now)
    else:
        _scores_bulk_create(results, run=run, now=now)
    return len(results)


# The temporary table a chunk's scores are copied into; dropped again before the merge ends.
_SCORES_IN = "pql_scores_in"
_SCORE_MERGE = f"""
    INSERT INTO pql_score AS s (workspace_id, model_id, fit, engagement, is_pql, lead_type,
        components, computed_at, run_id)
    SELECT workspace_id, %(model)s, fit, engagement, is_pql, lead_type, components::jsonb,
        %(now)s, %(run)s
    FROM {_SCORES_IN}
    ON CONFLICT (workspace_id) DO UPDATE SET
        model_id = EXCLUDED.model_id, fit = EXCLUDED.fit, engagement = EXCLUDED.engagement,
        is_pql = EXCLUDED.is_pql, lead_type = EXCLUDED.lead_type,
        -- the stored explanation is kept (not rewritten) when it says the same
        components = CASE WHEN s.components = EXCLUDED.components THEN s.components
            ELSE EXCLUDED.components END,
        computed_at = EXCLUDED.computed_at, run_id = EXCLUDED.run_id
    WHERE (s.model_id, s.fit, s.engagement, s.is_pql, s.lead_type, s.computed_at, s.run_id,
            s.components)
        IS DISTINCT FROM (EXCLUDED.model_id, EXCLUDED.fit, EXCLUDED.engagement,
            EXCLUDED.is_pql, EXCLUDED.lead_type, EXCLUDED.computed_at, EXCLUDED.run_id,
            EXCLUDED.components)
"""  # noqa: S608 - fixed names
_SNAPSHOT_MERGE = f"""
    INSERT INTO pql_scoresnapshot AS s (workspace_id, day, fit, engagement, is_pql, model_id)
    SELECT workspace_id, %(day)s, fit, engagement, is_pql, %(model)s
    FROM {_SCORES_IN}
    ON CONFLICT (workspace_id, day) DO UPDATE SET
        fit = EXCLUDED.fit, engagement = EXCLUDED.engagement, is_pql = EXCLUDED.is_pql,
        model_id = EXCLUDED.model_id
    WHERE (s.fit, s.engagement, s.is_pql, s.model_id)
        IS DISTINCT FROM (EXCLUDED.fit, EXCLUDED.engagement, EXCLUDED.is_pql, EXCLUDED.model_id)
"""  # noqa: S608 - fixed names


def _scores_merge(results: Mapping[int, ScoreResult], *, run: ScoringRun, now: datetime) -> None:
    params = {"model": run.model_id, "run": run.pk, "now": now, "day": _day(now)}
    explain = ComponentsJson()
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {_SCORES_IN} (workspace_id bigint, fit smallint, "
            "engagement smallint, is_pql boolean, lead_type varchar(10), components text) "
            "ON COMMIT DROP"
        )
        with cursor.cursor.copy(
            f"COPY {_SCORES_IN} (workspace_id, fit, engagement, is_pql, lead_type, components) "
            "FROM STDIN"
        ) as copy:
            # In pk order (the merges insert in this order): concurrent chunks hold disjoint
            # ranges, and one chunk's rows are locked in a fixed order.
            for workspace_id in sorted(results):
                result = results[workspace_id]
                copy.write_row(
                    (
                        workspace_id,
                        result.fit,
                        result.engagement,
                        result.is_pql,
                        result.lead_type,
                        explain(result.components),
                    )
                )
        cursor.execute(_SCORE_MERGE, params)
        cursor.execute(_SNAPSHOT_MERGE, params)
        cursor.execute(f"DROP TABLE {_SCORES_IN}")


def _scores_bulk_create(
    results: Mapping[int, ScoreResult], *, run: ScoringRun, now: datetime
) -> None:
    day = _day(now)
    scores = []
    snapshots = []
    for workspace_id in sorted(results):
        result = results[workspace_id]
        scores.append(
            Score(
                workspace_id=workspace_id,
                model_id=run.model_id,
                fit=result.fit,
                engagement=result.engagement,
                is_pql=result.is_pql,
                lead_type=result.lead_type,
                components=[component.as_dict() for component in result.components],
                computed_at=now,
                run=run,
            )
        )
        snapshots.append(
            ScoreSnapshot(
                workspace_id=workspace_id,
                day=day,
                fit=result.fit,
                engagement=result.engagement,
                is_pql=result.is_pql,
                model_id=run.model_id,
            )
        )
    Score.objects.bulk_create(
        scores,
        batch_size=BATCH_SIZE,
        update_conflicts=True,
        unique_fields=["workspace"],
        update_fields=[
            "model",
            "fit",
            "engagement",
            "is_pql",
            "lead_type",
            "components",
            "computed_at",
            "run",
        ],
    )
    ScoreSnapshot.objects.bulk_create(
        snapshots,
        batch_size=BATCH_SIZE,
        update_conflicts=True,
        unique_fields=["workspace", "day"],
        update_fields=["fit", "engagement", "is_pql", "model"],
    )


@transaction.atomic
def score_history_prune(*, now: datetime | None = None) -> int:
    """Keep every daily snapshot of the last ``HANDOFF_PQL_HISTORY_DAILY_DAYS`` days, one a
    week (the week's latest) before that, and nothing older than
    ``HANDOFF_PQL_HISTORY_DAYS``. Returns how many snapshots were deleted."""
    today = _day(now or timezone.now())
    daily_from = today - timedelta(days=settings.HANDOFF_PQL_HISTORY_DAILY_DAYS)
    keep_from = today - timedelta(days=settings.HANDOFF_PQL_HISTORY_DAYS)
    deleted, _ = ScoreSnapshot.objects.filter(day__lt=keep_from).delete()
    week = TruncWeek("day", output_field=DateField())
    later_same_week = ScoreSnapshot.objects.alias(week=week).filter(
        workspace_id=OuterRef("workspace_id"),
        day__gt=OuterRef("day"),
        day__lt=daily_from,
        week=OuterRef("week"),
    )
    thinned, _ = (
        ScoreSnapshot.objects.filter(day__lt=daily_from)
        .alias(week=week)
        .filter(Exists(later_same_week))
        .delete()
    )
    return deleted + thinned


# Leads ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadsSynced:
    """What ``leads_sync`` did: the workspaces whose lead it opened and the leads it expired."""

    opened: tuple[int, ...]
    expired: tuple[int, ...]


def _open_leads(lo: int, hi: int):
    return Lead.objects.filter(workspace_id__gte=lo, workspace_id__lte=hi).filter(
        status__in=OPEN_LEAD_STATUSES
    )


@transaction.atomic
def leads_sync(
    *,
    results: Mapping[int, ScoreResult],
    mrr: Mapping[int, int],
    now: datetime,
    model: ScoringModel,
    currency: str = DEFAULT_CURRENCY,
) -> LeadsSynced:
    """For a chunk of scored workspaces: open a lead (status new) for each PQL that has none
    open, with its type, scores, top reasons, SLA due time and MRR at opening; expire the open
    leads whose workspace has not qualified for ``model.expire_below_days`` days or has been
    idle ``model.expire_inactive_days`` days, with that reason. Each change writes a timeline
    row. A concurrent sync opening the same workspace's lead leaves exactly one open lead
    (the database's partial unique constraint; the loser's insert does nothing)."""
    if not results:
        return LeadsSynced((), ())
    lo, hi = _pk_range(results)
    open_by_workspace = {lead.workspace_id: lead for lead in _open_leads(lo, hi)}

    to_open = {
        workspace_id: result
        for workspace_id, result in sorted(results.items())
        if result.is_pql and workspace_id not in open_by_workspace
    }
    opened = _leads_open(to_open, mrr=mrr, now=now, model=model, currency=currency)
    expired = _leads_expire(open_by_workspace, results=results, now=now, model=model)
    _leads_rescore(open_by_workspace, results=results, expired=set(expired))
    return LeadsSynced(opened=opened, expired=expired)


def _leads_rescore(
    open_by_workspace: Mapping[int, Lead], *, results: Mapping[int, ScoreResult], expired: set
) -> None:
    """Open leads carry their workspace's current scores (the queue sorts on them)."""
    changed = []
    for workspace_id, lead in open_by_workspace.items():
        result = results.get(workspace_id)
        if lead.pk in expired or result is None:
            continue
        if (lead.fit, lead.engagement) != (result.fit, result.engagement):
            lead.fit, lead.engagement = result.fit, result.engagement
            changed.append(lead)
    Lead.objects.bulk_update(changed, ["fit", "engagement"], batch_size=BATCH_SIZE)


def _leads_open(
    to_open: Mapping[int, ScoreResult],
    *,
    mrr: Mapping[int, int],
    now: datetime,
    model: ScoringModel,
    currency: str,
) -> tuple[int, ...]:
    if not to_open:
        return ()
    queue = queue_settings()
    due = sla_due(now, queue)
    Lead.objects.bulk_create(
        [
            Lead(
                workspace_id=workspace_id,
                type=result.lead_type,
                status=LeadStatus.NEW,
                model=model,
                fit_at_open=result.fit,
                engagement_at_open=result.engagement,
                top_reasons=result.top_reasons(),
                reason_signals=reason_signals(result.top_reasons()),
                opened_at=now,
                sla_due_at=due,
                fit=result.fit,
                engagement=result.engagement,
                mrr_at_open_cents=mrr.get(workspace_id, 0),
                currency=currency,
            )
            for workspace_id, result in to_open.items()
        ],
        batch_size=BATCH_SIZE,
        # A lead opened meanwhile by a concurrent sync wins; this insert then does nothing.
        ignore_conflicts=True,
    )
    # The leads this call inserted: opened now, in the range, with no timeline yet (a
    # concurrent opener's lead is committed with its "opened" row before this insert goes on).
    lo, hi = _pk_range(to_open)
    mine = [
        lead
        for lead in _open_leads(lo, hi)
        .filter(status=LeadStatus.NEW, opened_at=now)
        .exclude(Exists(LeadActivity.objects.filter(lead=OuterRef("pk"))))
        .order_by("workspace_id")
        if lead.workspace_id in to_open
    ]
    LeadActivity.objects.bulk_create(
        [
            LeadActivity(
                lead=lead,
                kind=LeadActivity.Kind.OPENED,
                at=now,
                data={
                    "type": lead.type,
                    "fit": lead.fit_at_open,
                    "engagement": lead.engagement_at_open,
                    "model_version": model.version,
                    "reasons": [reason["text"] for reason in lead.top_reasons],
                },
            )
            for lead in mine
        ],
        batch_size=BATCH_SIZE,
    )
    _leads_round_robin(mine, queue=queue, now=now)
    events.leads_opened(mine)
    return tuple(lead.workspace_id for lead in mine)


def reason_signals(reasons: list[dict]) -> str:
    """The signal keys of a lead's reasons between commas, as the queue filters on them."""
    return "," + ",".join(reason["signal"] for reason in reasons) + "," if reasons else ""


def _leads_round_robin(leads: list[Lead], *, queue, now: datetime) -> None:
    """With round robin on, new leads go in turn to the available reps with room, least
    loaded first; leads beyond everyone's capacity stay unassigned."""
    reps = round_robin_reps(queue)
    if not reps or not leads:
        return
    room = {rep.pk: rep.room for rep in reps}
    assigned = []
    turn = 0
    for lead in leads:
        for _ in range(len(reps)):
            rep = reps[turn % len(reps)]
            turn += 1
            if room[rep.pk] > 0:
                room[rep.pk] -= 1
                lead.owner = rep
                assigned.append(lead)
                break
        else:
            break  # every rep is full
    Lead.objects.bulk_update(assigned, ["owner"], batch_size=BATCH_SIZE)
    LeadActivity.objects.bulk_create(
        [
            LeadActivity(
                lead=lead,
                kind=LeadActivity.Kind.ASSIGNED,
                at=now,
                data={"before": None, "owner": lead.owner.email, "round_robin": True},
            )
            for lead in assigned
        ],
        batch_size=BATCH_SIZE,
    )


def _leads_expire(
    open_by_workspace: Mapping[int, Lead],
    *,
    results: Mapping[int, ScoreResult],
    now: datetime,
    model: ScoringModel,
) -> tuple[int, ...]:
    candidates = {
        workspace_id: lead
        for workspace_id, lead in open_by_workspace.items()
        if workspace_id in results and not results[workspace_id].is_pql
    }
    if not candidates:
        return ()
    lo, hi = _pk_range(candidates)
    since = _day(now) - timedelta(days=model.expire_below_days)
    qualified_recently = set(
        ScoreSnapshot.objects.filter(
            workspace_id__gte=lo, workspace_id__lte=hi, day__gt=since, is_pql=True
        ).values_list("workspace_id", flat=True)
    )
    opened_before = now - timedelta(days=model.expire_below_days)
    reasons: dict[int, tuple[str, dict]] = {}
    for workspace_id, lead in sorted(candidates.items()):
        result = results[workspace_id]
        idle = result.idle_days
        facts = {"fit": result.fit, "engagement": result.engagement, "idle_days": idle}
        if idle is None or idle >= model.expire_inactive_days:
            text = "never active" if idle is None else f"inactive for {idle} days"
            reasons[lead.pk] = (text, facts | {"reason": "inactive"})
        elif lead.opened_at <= opened_before and workspace_id not in qualified_recently:
            text = f"below the PQL threshold for {model.expire_below_days} days"
            reasons[lead.pk] = (text, facts | {"reason": "below_threshold"})
    if not reasons:
        return ()
    # Lock them and check again: a rep may have closed one meanwhile.
    leads = list(
        Lead.objects.select_for_update()
        .filter(pk__in=sorted(reasons), status__in=OPEN_LEAD_STATUSES)
        .order_by("pk")
    )
    changes = []
    for lead in leads:
        changes.append(events.StatusChange(lead, lead.status, LeadStatus.EXPIRED, now))
        lead.status = LeadStatus.EXPIRED
        lead.closed_at = now
        lead.close_reason = reasons[lead.pk][0]
    Lead.objects.bulk_update(leads, ["status", "closed_at", "close_reason"])
    LeadActivity.objects.bulk_create(
        [
            LeadActivity(
                lead=lead,
                kind=LeadActivity.Kind.EXPIRED,
                at=now,
                data=reasons[lead.pk][1] | {"text": reasons[lead.pk][0]},
            )
            for lead in leads
        ]
    )
    events.leads_status_changed(changes)
    return tuple(lead.pk for lead in leads)


def _close_won(lead: Lead, *, via: str, mrr_after_cents: int, now: datetime) -> LeadActivity:
    lead.status = LeadStatus.WON
    lead.closed_at = now
    lead.won_via = via
    lead.mrr_change_cents = mrr_after_cents - lead.mrr_at_open_cents
    lead.close_reason = (
        "upgraded through self-serve" if via == Lead.WonVia.SELF_SERVE else "plan set by sales"
    )
    return LeadActivity(
        lead=lead,
        kind=LeadActivity.Kind.WON,
        at=now,
        data={
            "via": via,
            "mrr_before_cents": lead.mrr_at_open_cents,
            "mrr_after_cents": mrr_after_cents,
            "mrr_change_cents": lead.mrr_change_cents,
            "currency": lead.currency,
        },
    )


@transaction.atomic
def lead_close_won(
    *,
    workspace_id: int,
    via: str,
    mrr_after_cents: int,
    now: datetime | None = None,
    actor: User | None = None,
) -> Lead | None:
    """Close the workspace's open lead as won, through a self-serve upgrade or sales, with
    the MRR change since it opened. None when the workspace has no open lead."""
    if via not in Lead.WonVia.values:
        raise ApplicationError(
            f"“{via}” is not a way a lead is won: self_serve or sales.", field="via"
        )
    now = now or timezone.now()
    lead = (
        Lead.objects.select_for_update()
        .filter(workspace_id=workspace_id, status__in=OPEN_LEAD_STATUSES)
        .first()
    )
    if lead is None:
        return None
    before = lead.status
    activity = _close_won(lead, via=via, mrr_after_cents=mrr_after_cents, now=now)
    activity.actor = actor
    lead.save(update_fields=["status", "closed_at", "won_via", "mrr_change_cents", "close_reason"])
    activity.save()
    events.leads_status_changed(
        [
            events.StatusChange(
                lead, before, LeadStatus.WON, now, actor.pk if actor else None, lead.close_reason
            )
        ]
    )
    return lead


@transaction.atomic
def leads_close_upgraded(*, mrr: Mapping[int, int], now: datetime) -> tuple[int, ...]:
    """Close as won through self-serve the open leads of the workspaces (a chunk: ``mrr``'s
    keys) that now pay more than when their lead opened, so no lead stays open because a
    notification was lost. Returns the leads closed."""
    if not mrr:
        return ()
    lo, hi = _pk_range(mrr)
    leads = [
        lead
        for lead in _open_leads(lo, hi).select_for_update().order_by("pk")
        if lead.workspace_id in mrr and mrr[lead.workspace_id] > lead.mrr_at_open_cents
    ]
    before = {lead.pk: lead.status for lead in leads}
    activities = [
        _close_won(
            lead,
            via=Lead.WonVia.SELF_SERVE,
            mrr_after_cents=mrr[lead.workspace_id],
            now=now,
        )
        for lead in leads
    ]
    Lead.objects.bulk_update(
        leads, ["status", "closed_at", "won_via", "mrr_change_cents", "close_reason"]
    )
    LeadActivity.objects.bulk_create(activities)
    events.leads_status_changed(
        events.StatusChange(lead, before[lead.pk], LeadStatus.WON, now, None, lead.close_reason)
        for lead in leads
    )
    return tuple(lead.pk for lead in leads)
