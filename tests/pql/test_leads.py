"""The lead lifecycle: opening on a threshold crossing (once, concurrently too), expiry,
and closing as won through self-serve or sales."""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, connections, transaction

from accounts.errors import ApplicationError
from pql.models import Lead, LeadActivity, ScoreSnapshot
from pql.scoring import Component, ScoreResult
from pql.services import (
    lead_close_won,
    leads_close_upgraded,
    leads_sync,
    scoring_model_published,
)
from tests.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
REASONS = (
    Component("usage_share", "engagement", 92, 20, "uses 92% of 10,000 API calls"),
    Component("company_domain", "fit", "company", 35, "company e-mail domain northwind.io"),
    Component("recency", "engagement", 1, 6, "last active 1 day ago"),
    Component("active_people_7d", "engagement", 5, 15, "5 active people in the last 7 days"),
)


def pql(idle=1, lead_type="upgrade"):
    return ScoreResult(80, 71, True, lead_type, REASONS, idle_days=idle)


def not_pql(idle=1):
    return ScoreResult(30, 20, False, "none", REASONS, idle_days=idle)


@pytest.fixture
def model():
    return scoring_model_published()


@pytest.fixture
def workspaces(db):
    return [WorkspaceFactory(name=f"Company {i}") for i in range(4)]


def test_a_pql_without_an_open_lead_gets_one_with_its_type_reasons_and_sla(model, workspaces):
    first, second = workspaces[0].pk, workspaces[1].pk

    synced = leads_sync(
        results={first: pql(), second: not_pql()}, mrr={first: 0}, now=NOW, model=model
    )

    lead = Lead.objects.get()
    assert synced.opened == (first,)
    assert (lead.workspace_id, lead.type, lead.status) == (first, "upgrade", "new")
    assert (lead.fit_at_open, lead.engagement_at_open, lead.model_id) == (80, 71, model.pk)
    assert [r["text"] for r in lead.top_reasons] == [
        "company e-mail domain northwind.io",
        "uses 92% of 10,000 API calls",
        "5 active people in the last 7 days",
    ]
    # 24 working hours of the default week (Monday to Friday, 9:00-17:00 UTC) from Monday 9:00
    assert lead.sla_due_at == datetime(2025, 3, 12, 17, 0, tzinfo=UTC)
    assert lead.mrr_at_open_cents == 0
    activity = LeadActivity.objects.get()
    assert (activity.lead_id, activity.kind, activity.at) == (lead.pk, "opened", NOW)
    assert activity.data["reasons"][0] == "company e-mail domain northwind.io"


def test_a_workspace_still_qualifying_keeps_its_one_open_lead(model, workspaces):
    wid = workspaces[0].pk
    leads_sync(results={wid: pql()}, mrr={}, now=NOW, model=model)

    again = leads_sync(results={wid: pql()}, mrr={}, now=NOW + timedelta(hours=1), model=model)

    assert again.opened == ()
    assert Lead.objects.filter(workspace_id=wid).count() == 1
    assert LeadActivity.objects.count() == 1


def test_opening_leads_takes_the_same_queries_for_one_workspace_or_many(
    model, workspaces, django_assert_num_queries
):
    ids = [w.pk for w in workspaces]
    # savepoint, the open leads, the queue's settings (SLA, round robin), the insert, the leads
    # inserted, their timeline, the outbound endpoints listening to new leads, release
    with django_assert_num_queries(8):
        leads_sync(results={ids[0]: pql()}, mrr={}, now=NOW, model=model)
    with django_assert_num_queries(8):
        leads_sync(results={i: pql() for i in ids[1:]}, mrr={}, now=NOW, model=model)
    assert Lead.objects.count() == 4


def test_the_database_refuses_a_second_open_lead_for_a_workspace(model, workspaces):
    wid = workspaces[0].pk
    leads_sync(results={wid: pql()}, mrr={}, now=NOW, model=model)
    lead = Lead.objects.get()

    with pytest.raises(IntegrityError), transaction.atomic():
        Lead.objects.create(
            workspace_id=wid,
            type="upgrade",
            model=model,
            fit_at_open=1,
            engagement_at_open=1,
            opened_at=NOW,
            sla_due_at=NOW,
        )
    lead_close_won(workspace_id=wid, via="sales", mrr_after_cents=0, now=NOW)
    leads_sync(results={wid: pql()}, mrr={}, now=NOW + timedelta(days=1), model=model)
    assert Lead.objects.filter(workspace_id=wid).count() == 2  # closed ones do not count
    assert Lead.objects.get(pk=lead.pk).status == "won"


# serialized_rollback: the published default model (a data migration) survives the flush.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_concurrent_syncs_open_exactly_one_lead():
    model = scoring_model_published()
    wid = WorkspaceFactory(name="Racing").pk
    first_inserted = threading.Event()
    release_first = threading.Event()
    outcomes = {}

    def first():
        try:
            with transaction.atomic():
                outcomes["first"] = leads_sync(results={wid: pql()}, mrr={}, now=NOW, model=model)
                first_inserted.set()
                release_first.wait(10)
        finally:
            connections.close_all()

    def second():
        try:
            first_inserted.wait(10)
            # It reads no open lead (the first is not committed) and inserts: that insert
            # waits on the unique index until the first commits, then does nothing.
            outcomes["second"] = leads_sync(
                results={wid: pql()}, mrr={}, now=NOW + timedelta(seconds=1), model=model
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_inserted.wait(10)
    _wait_for_a_lock_wait()
    release_first.set()
    for thread in threads:
        thread.join(20)

    assert outcomes["first"].opened == (wid,)
    assert outcomes["second"].opened == ()
    assert Lead.objects.filter(workspace_id=wid).count() == 1
    assert LeadActivity.objects.filter(kind="opened").count() == 1


def _wait_for_a_lock_wait() -> None:
    """Until another session waits on a lock (the second insert on the unique index)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.05)
    raise AssertionError("the second sync never waited on the first")


def _open_lead(model, wid, *, days_ago, mrr=0):
    leads_sync(
        results={wid: pql()}, mrr={wid: mrr}, now=NOW - timedelta(days=days_ago), model=model
    )
    return Lead.objects.get(workspace_id=wid, status="new")


def test_a_lead_below_the_threshold_for_the_set_days_expires_with_that_reason(model, workspaces):
    stale, recent = workspaces[0].pk, workspaces[1].pk
    stale_lead = _open_lead(model, stale, days_ago=20)
    recent_lead = _open_lead(model, recent, days_ago=20)
    ScoreSnapshot.objects.create(  # qualified 5 days ago: not 14 days under yet
        workspace_id=recent,
        day=(NOW - timedelta(days=5)).date(),
        fit=80,
        engagement=70,
        is_pql=True,
        model=model,
    )

    synced = leads_sync(results={stale: not_pql(), recent: not_pql()}, mrr={}, now=NOW, model=model)

    assert synced.expired == (stale_lead.pk,)
    stale_lead.refresh_from_db()
    assert (stale_lead.status, stale_lead.closed_at) == ("expired", NOW)
    assert stale_lead.close_reason == "below the PQL threshold for 14 days"
    expiry = LeadActivity.objects.get(kind="expired")
    assert expiry.data["reason"] == "below_threshold"
    assert Lead.objects.get(pk=recent_lead.pk).status == "new"


def test_a_lead_opened_recently_does_not_expire_for_being_below(model, workspaces):
    wid = workspaces[0].pk
    lead = _open_lead(model, wid, days_ago=3)

    assert leads_sync(results={wid: not_pql()}, mrr={}, now=NOW, model=model).expired == ()
    assert Lead.objects.get(pk=lead.pk).status == "new"


def test_a_lead_of_an_inactive_workspace_expires_with_that_reason(model, workspaces):
    wid = workspaces[0].pk
    lead = _open_lead(model, wid, days_ago=2)

    leads_sync(results={wid: not_pql(idle=25)}, mrr={}, now=NOW, model=model)

    lead.refresh_from_db()
    assert (lead.status, lead.close_reason) == ("expired", "inactive for 25 days")
    assert LeadActivity.objects.get(kind="expired").data["idle_days"] == 25


def test_a_self_serve_upgrade_closes_the_open_lead_as_won_with_the_mrr_change(model, workspaces):
    wid = workspaces[0].pk
    lead = _open_lead(model, wid, days_ago=3, mrr=1_200)

    closed = lead_close_won(workspace_id=wid, via="self_serve", mrr_after_cents=4_800, now=NOW)

    assert closed.pk == lead.pk
    lead.refresh_from_db()
    assert (lead.status, lead.won_via, lead.closed_at) == ("won", "self_serve", NOW)
    assert lead.mrr_change_cents == 3_600
    won = LeadActivity.objects.get(kind="won")
    assert won.data["mrr_change_cents"] == 3_600
    assert won.data["via"] == "self_serve"


def test_a_plan_set_by_sales_closes_the_lead_as_won_through_sales(model, workspaces):
    wid = workspaces[0].pk
    _open_lead(model, wid, days_ago=1)

    lead = lead_close_won(workspace_id=wid, via="sales", mrr_after_cents=24_000, now=NOW)

    assert (lead.won_via, lead.close_reason, lead.mrr_change_cents) == (
        "sales",
        "plan set by sales",
        24_000,
    )


def test_closing_without_an_open_lead_does_nothing_and_a_bad_way_is_refused(model, workspaces):
    wid = workspaces[0].pk
    assert lead_close_won(workspace_id=wid, via="sales", mrr_after_cents=1, now=NOW) is None

    _open_lead(model, wid, days_ago=1)
    with pytest.raises(ApplicationError, match="not a way a lead is won"):
        lead_close_won(workspace_id=wid, via="magic", mrr_after_cents=1, now=NOW)
    assert Lead.objects.get().status == "new"


def test_a_scoring_run_closes_the_leads_of_workspaces_that_now_pay_more(model, workspaces):
    upgraded, same = workspaces[0].pk, workspaces[1].pk
    upgraded_lead = _open_lead(model, upgraded, days_ago=4, mrr=0)
    same_lead = _open_lead(model, same, days_ago=4, mrr=1_200)

    closed = leads_close_upgraded(mrr={upgraded: 1_200, same: 1_200}, now=NOW)

    assert closed == (upgraded_lead.pk,)
    upgraded_lead.refresh_from_db()
    assert (upgraded_lead.status, upgraded_lead.won_via) == ("won", "self_serve")
    assert upgraded_lead.mrr_change_cents == 1_200
    assert Lead.objects.get(pk=same_lead.pk).status == "new"
    assert LeadActivity.objects.filter(kind="won").count() == 1
