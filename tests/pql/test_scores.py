"""Scores and their history are upserts (a rerun replaces), history is pruned to daily then
weekly, runs count their chunks once, and scoring model versions are published one at a
time and never changed once published."""

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction

from accounts.errors import Conflict
from pql.models import Score, ScoreSnapshot, ScoringModel, ScoringRun
from pql.scoring import Component, ScoreResult
from pql.services import (
    score_history_prune,
    scores_upsert,
    scoring_model_new_version,
    scoring_model_publish,
    scoring_model_published,
    scoring_run_chunk_done,
    scoring_run_start,
    scoring_runs_abandon,
)
from tests.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
USAGE = Component("usage_share", "engagement", 92, 20, "uses 92% of 10,000 API calls")


@pytest.fixture
def run():
    return scoring_run_start(model=scoring_model_published(), now=NOW, chunk_count=1)


def test_scores_are_upserted_with_their_components_and_a_snapshot_of_the_day(run):
    wid = WorkspaceFactory(name="Northwind").pk

    scores_upsert(results={wid: ScoreResult(40, 20, False, "none", (USAGE,))}, run=run, now=NOW)
    later = NOW + timedelta(hours=1)
    scores_upsert(results={wid: ScoreResult(45, 70, True, "upgrade", (USAGE,))}, run=run, now=later)

    score = Score.objects.get(workspace_id=wid)
    assert (score.fit, score.engagement, score.is_pql, score.lead_type) == (45, 70, True, "upgrade")
    assert score.components == [USAGE.as_dict()]
    assert (score.computed_at, score.run_id, score.model_id) == (later, run.pk, run.model_id)
    snapshot = ScoreSnapshot.objects.get(workspace_id=wid)  # one a day: the day's last wins
    assert (snapshot.day, snapshot.fit, snapshot.engagement) == (date(2025, 3, 10), 45, 70)


def _row_versions(wid: int) -> tuple[str, str]:
    """The transaction ids that last wrote the workspace's score and snapshot rows."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT xmin::text FROM pql_score WHERE workspace_id = %s), "
            "(SELECT xmin::text FROM pql_scoresnapshot WHERE workspace_id = %s)",
            [wid, wid],
        )
        return cursor.fetchone()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_chunk_written_again_unchanged_rewrites_no_row():
    run = scoring_run_start(model=scoring_model_published(), now=NOW, chunk_count=1)
    wid = WorkspaceFactory(name="Northwind").pk
    result = {wid: ScoreResult(40, 20, False, "none", (USAGE,))}
    scores_upsert(results=result, run=run, now=NOW)
    written = _row_versions(wid)

    scores_upsert(results=result, run=run, now=NOW)  # a redelivered chunk
    assert _row_versions(wid) == written
    changed = {wid: ScoreResult(40, 25, False, "none", (USAGE,))}
    scores_upsert(results=changed, run=run, now=NOW)
    assert all(after != before for after, before in zip(_row_versions(wid), written, strict=True))
    assert Score.objects.get(workspace_id=wid).engagement == 25


def test_components_are_stored_compactly_and_read_with_their_group(run):
    wid = WorkspaceFactory(name="Northwind").pk
    decay = Component("inactivity_decay", "engagement", 21, -49, "idle 21 days: engagement 25%")
    result = ScoreResult(40, 20, False, "none", (USAGE, decay))

    scores_upsert(results={wid: result}, run=run, now=NOW)

    with connection.cursor() as cursor:
        cursor.execute("SELECT components::text FROM pql_score WHERE workspace_id = %s", [wid])
        stored = json.loads(cursor.fetchone()[0])
    assert stored == [
        ["usage_share", 92, 20, "uses 92% of 10,000 API calls"],
        ["inactivity_decay", 21, -49, "idle 21 days: engagement 25%"],
    ]
    assert Score.objects.get(workspace_id=wid).components == [USAGE.as_dict(), decay.as_dict()]
    assert Score.objects.values_list("components", flat=True).get() == [
        USAGE.as_dict(),
        decay.as_dict(),
    ]


def test_the_next_day_adds_a_snapshot(run):
    wid = WorkspaceFactory(name="Northwind").pk
    result = {wid: ScoreResult(40, 20, False, "none", ())}

    scores_upsert(results=result, run=run, now=NOW)
    scores_upsert(results=result, run=run, now=NOW + timedelta(days=1))

    assert list(ScoreSnapshot.objects.order_by("day").values_list("day", flat=True)) == [
        date(2025, 3, 10),
        date(2025, 3, 11),
    ]


def test_history_is_kept_daily_then_weekly_then_not_at_all(run, settings):
    settings.HANDOFF_PQL_HISTORY_DAILY_DAYS = 90
    settings.HANDOFF_PQL_HISTORY_DAYS = 365
    wid = WorkspaceFactory(name="Northwind").pk
    today = NOW.date()
    ScoreSnapshot.objects.bulk_create(
        ScoreSnapshot(
            workspace_id=wid,
            day=today - timedelta(days=age),
            fit=1,
            engagement=1,
            model_id=run.model_id,
        )
        for age in range(500)
    )

    score_history_prune(now=NOW)

    days = set(ScoreSnapshot.objects.values_list("day", flat=True))
    daily_from = today - timedelta(days=90)
    assert {today - timedelta(days=age) for age in range(91)} <= days  # every day of 90
    assert min(days) >= today - timedelta(days=365)
    older = sorted(day for day in days if day < daily_from)
    weeks = [day.isocalendar()[:2] for day in older]
    assert len(weeks) == len(set(weeks))  # one a week…
    # …the week's latest: its Sunday, but in the week that goes on into the daily days
    assert all(day.weekday() == 6 for day in older[:-1])
    assert older[-1] == daily_from - timedelta(days=1)
    assert 39 <= len(older) <= 41


def test_a_chunk_reported_twice_counts_once_and_the_last_chunk_finishes_the_run():
    run = scoring_run_start(model=scoring_model_published(), now=NOW, chunk_count=2)

    assert scoring_run_chunk_done(run_id=run.pk, chunk=0, now=NOW) is False
    assert scoring_run_chunk_done(run_id=run.pk, chunk=0, now=NOW) is False
    run.refresh_from_db()
    assert (run.chunks_done, run.status) == (1, "running")
    assert scoring_run_chunk_done(run_id=run.pk, chunk=1, now=NOW) is True
    run.refresh_from_db()
    assert (run.chunks_done, run.status, run.finished_at) == (2, "finished", NOW)
    assert scoring_run_chunk_done(run_id=run.pk, chunk=1, now=NOW) is False


def test_a_run_left_running_by_a_killed_worker_is_marked_failed():
    model = scoring_model_published()
    killed = scoring_run_start(model=model, now=NOW, chunk_count=3, started_at=NOW)
    current = scoring_run_start(
        model=model, now=NOW, chunk_count=3, started_at=NOW + timedelta(hours=2)
    )

    assert scoring_runs_abandon(started_before=NOW + timedelta(hours=1), now=NOW) == 1
    assert ScoringRun.objects.get(pk=killed.pk).status == "failed"
    assert ScoringRun.objects.get(pk=current.pk).status == "running"


def test_a_new_version_copies_the_published_one_which_stays_as_it_is():
    published = scoring_model_published()
    signals_before = list(published.signals.values_list("key", "weight", "max_points", "bands"))

    draft = scoring_model_new_version(source=published, actor=None)

    assert (draft.version, draft.status, draft.derived_from_id) == (2, "draft", published.pk)
    assert list(draft.signals.values_list("key", "weight", "max_points", "bands")) == (
        signals_before
    )
    published.refresh_from_db()
    assert published.status == "published"
    assert published.signals.count() == len(signals_before)


def test_publishing_a_draft_retires_the_version_published_before():
    first = scoring_model_published()
    draft = scoring_model_new_version(source=first, actor=None)

    scoring_model_publish(model=draft, actor=None, now=NOW)

    assert scoring_model_published().pk == draft.pk
    assert ScoringModel.objects.get(pk=first.pk).status == "retired"
    with pytest.raises(Conflict, match="only a draft"):
        scoring_model_publish(model=first, actor=None, now=NOW)


def test_the_database_holds_one_published_version():
    draft = scoring_model_new_version(source=scoring_model_published(), actor=None)

    with pytest.raises(IntegrityError), transaction.atomic():
        ScoringModel.objects.filter(pk=draft.pk).update(status="published", published_at=NOW)
