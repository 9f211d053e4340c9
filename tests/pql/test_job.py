"""The scoring job end to end on hand-built workspaces, through the real selectors: scores
and their explanations, reruns, the lock between runs, abandoned and killed runs, opening,
expiring and closing leads, the command, and a query count that does not grow with the
number of workspaces."""

import io
import re
import threading
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.services import workspace_fit_set
from billing.entitlements import workspace_entitlements
from billing.models import Plan
from billing.services import subscription_set_plan
from pql.jobs import chunk_results, chunk_score, pqls_score, run_begin
from pql.models import Lead, LeadActivity, Score, ScoringRun
from pql.services import scoring_model_published, scoring_run_start, scoring_runs_abandon
from tests.billing.test_flows import no_trial, subscribe
from tests.factories import UserFactory, WorkspaceFactory, add_member, on_plan
from usage.ingestion import UsageEventIn, usage_events_ingest
from usage.models import Metric
from usage.services import paywall_hit_record, product_event_record

pytestmark = pytest.mark.django_db

EVERY_PK = {"pk_from": 0, "pk_to": 2**62}


def api_calls(workspace, quantity: int) -> None:
    usage_events_ingest(
        workspace=workspace,
        events=[
            UsageEventIn(
                0, Metric.objects.get(key="api_calls"), quantity, "calls-1", timezone.now()
            )
        ],
        limits=workspace_entitlements(workspace_id=workspace.pk),
        upgrade_url="/pricing/",
    )


def free_near_its_limit(
    name: str = "Northwind", domain: str = "northwind.io", *, plan: str = "", calls: int = 9_300
):
    """A free workspace of a company (team of 11-50, for sales) using 93% of its API calls,
    three people active today, two of whom hit a paywall: an upgrade PQL. With ``plan``, the
    same on that plan set by hand (still not paying through Stripe), with ``calls``."""
    owner = UserFactory(email=f"ann@{domain}")
    workspace = WorkspaceFactory(name=name, created_by=owner, company_domain=domain)
    workspace_fit_set(workspace=workspace, actor=owner, team_size="11-50", use_case="sales")
    if plan:
        on_plan(workspace, plan)
    emails = [owner.email]
    for person in ("bob", "cy"):
        emails.append(add_member(workspace, f"{person}@{domain}").user.email)
    api_calls(workspace, calls)
    for email in emails:
        product_event_record(workspace_id=workspace.pk, name="report_exported", user_email=email)
    for email in emails[:2]:
        paywall_hit_record(workspace_id=workspace.pk, metric="api_calls", user_email=email)
    return workspace


def quiet(name: str):
    """A workspace that signed up and did nothing."""
    return WorkspaceFactory(name=name, created_by=UserFactory(email=f"x@{name.lower()}.com"))


def active(name: str, domain: str):
    """A workspace with one person active today and nothing near a limit: not a PQL."""
    workspace = WorkspaceFactory(name=name, created_by=UserFactory(email=f"dee@{domain}"))
    product_event_record(
        workspace_id=workspace.pk, name="report_exported", user_email=f"dee@{domain}"
    )
    return workspace


def components(workspace) -> dict[str, dict]:
    return {c["signal"]: c for c in Score.objects.get(workspace=workspace).components}


def score_rows() -> list[tuple]:
    return list(
        Score.objects.order_by("workspace_id").values_list(
            "workspace_id",
            "model_id",
            "fit",
            "engagement",
            "is_pql",
            "lead_type",
            "components",
            "computed_at",
        )
    )


def test_a_free_workspace_near_its_api_calls_is_an_upgrade_pql_that_says_why():
    workspace = free_near_its_limit()
    quiet_one = quiet("Initech")
    now = timezone.now()

    run = pqls_score(now=now)

    assert run.status == ScoringRun.Status.FINISHED
    score = Score.objects.get(workspace=workspace)
    assert (score.is_pql, score.lead_type) == (True, "upgrade")
    assert score.fit >= 40
    assert score.engagement >= 60
    explained = components(workspace)
    assert explained["usage_share"]["text"] == "uses 93% of 10,000 API calls"
    assert explained["usage_share"]["raw"] == 93
    assert explained["seats_share"]["text"] == "3 of 3 seats used"
    assert explained["active_people_7d"]["text"] == "3 active people in the last 7 days"
    assert explained["paywall_people_14d"]["text"] == "2 people hit a paywall in the last 14 days"
    assert explained["company_domain"]["text"] == "company e-mail domain northwind.io"
    assert explained["usage_growth"]["text"] == "3 active people this week, up from 0"
    assert score.fit == sum(c["points"] for c in explained.values() if c["group"] == "fit")
    lead = Lead.objects.get()
    assert (lead.workspace_id, lead.type, lead.status) == (workspace.pk, "upgrade", "new")
    assert "uses 93% of 10,000 API calls" in [r["text"] for r in lead.top_reasons]
    assert Score.objects.get(workspace=quiet_one).is_pql is False
    assert components(quiet_one)["recency"]["text"] == "never active"


def test_a_paying_workspace_at_its_seats_is_an_expansion_pql():
    no_trial("pro")
    owner = UserFactory(email="ann@globex.com")
    workspace = WorkspaceFactory(name="Globex", created_by=owner, company_domain="globex.com")
    workspace_fit_set(workspace=workspace, actor=owner, team_size="51-200", use_case="team")
    subscribe(workspace, plan="pro", seats=4)
    emails = [owner.email] + [
        add_member(workspace, f"{p}@globex.com").user.email for p in ("bob", "cy", "dan")
    ]
    api_calls(workspace, 1_000)
    for email in emails:
        product_event_record(workspace_id=workspace.pk, name="report_exported", user_email=email)
    for email in emails[:2]:
        paywall_hit_record(workspace_id=workspace.pk, metric="seats", user_email=email)

    pqls_score(now=timezone.now())

    score = Score.objects.get(workspace=workspace)
    assert (score.is_pql, score.lead_type) == (True, "expansion")
    explained = components(workspace)
    assert explained["seats_share"]["text"] == "4 of 4 seats used"
    assert explained["usage_share"]["text"] == "uses 0% of 250,000 API calls"
    lead = Lead.objects.get(workspace=workspace)
    assert (lead.type, lead.mrr_at_open_cents) == ("expansion", score_mrr(workspace))
    assert lead.mrr_at_open_cents > 0


def score_mrr(workspace) -> int:
    _, mrr = chunk_results(
        pk_from=workspace.pk, pk_to=workspace.pk + 1, now=timezone.now(),
        model=scoring_model_published(),
    )  # fmt: skip
    return mrr[workspace.pk]


def test_a_rerun_with_the_same_now_writes_the_same_scores_and_no_second_lead():
    free_near_its_limit()
    active("Hooli", "hooli.com")
    quiet("Initech")
    now = timezone.now()
    pqls_score(now=now, chunk_size=2)
    first = score_rows()

    again = pqls_score(now=now, chunk_size=2)

    assert again.status == ScoringRun.Status.FINISHED
    assert score_rows() == first
    assert Lead.objects.count() == 1
    assert LeadActivity.objects.filter(kind="opened").count() == 1


# serialized_rollback: the published default model (a data migration) survives the flush.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_concurrent_runs_give_one_run_and_one_lead():
    free_near_its_limit()
    quiet("Initech")
    now = timezone.now()
    start = threading.Barrier(2)
    loser_returned = threading.Event()
    outcomes: dict[str, ScoringRun | None] = {}

    def progress(done: int, total: int, span: int) -> None:
        # The winner holds its run open until the other call has answered.
        if done == 1:
            loser_returned.wait(20)

    def call(name: str) -> None:
        try:
            start.wait(10)
            outcomes[name] = pqls_score(now=now, chunk_size=1, progress=progress)
            if outcomes[name] is None:
                loser_returned.set()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=call, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(run is None for run in outcomes.values()) == [False, True]
    assert ScoringRun.objects.count() == 1
    assert ScoringRun.objects.get().status == ScoringRun.Status.FINISHED
    assert Lead.objects.count() == 1
    assert LeadActivity.objects.filter(kind="opened").count() == 1


def test_a_chunk_of_an_abandoned_run_writes_nothing():
    workspace = free_near_its_limit()
    plan = run_begin(now=timezone.now(), chunk_size=10)
    scoring_runs_abandon(started_before=timezone.now() + timedelta(seconds=1))

    finished = chunk_score(
        run_id=plan.run.pk, chunk=0, pk_from=plan.ranges[0][0], pk_to=plan.ranges[0][1]
    )

    assert finished is False
    assert ScoringRun.objects.get().status == ScoringRun.Status.FAILED
    assert not Score.objects.exists()
    assert not Lead.objects.filter(workspace=workspace).exists()


def test_a_run_killed_midway_is_abandoned_and_the_next_leaves_what_a_clean_run_would():
    first = free_near_its_limit()
    free_near_its_limit("Umbrella", "umbrella.io")
    active("Hooli", "hooli.com")
    now = timezone.now()
    # A worker started a run half an hour ago, scored its first chunk and died.
    killed = scoring_run_start(
        model=scoring_model_published(),
        now=now,
        chunk_count=2,
        started_at=timezone.now() - timedelta(minutes=31),
    )
    chunk_score(run_id=killed.pk, chunk=0, pk_from=first.pk, pk_to=first.pk + 1)
    assert Lead.objects.count() == 1

    run = pqls_score(now=now, chunk_size=1)

    killed.refresh_from_db()
    assert (killed.status, run.status) == (ScoringRun.Status.FAILED, ScoringRun.Status.FINISHED)
    clean, _ = chunk_results(**EVERY_PK, now=now, model=scoring_model_published())
    assert {
        s.workspace_id: (s.fit, s.engagement, s.is_pql, s.lead_type, s.components)
        for s in Score.objects.all()
    } == {
        workspace_id: (
            r.fit,
            r.engagement,
            r.is_pql,
            r.lead_type,
            [c.as_dict() for c in r.components],
        )
        for workspace_id, r in clean.items()
    }
    assert Score.objects.filter(run=run).count() == 3
    assert Lead.objects.count() == 2  # the two PQLs, each once
    assert LeadActivity.objects.filter(kind="opened").count() == 2


def test_a_lead_expires_once_its_workspace_has_been_below_the_threshold_for_the_set_days():
    workspace = free_near_its_limit()
    model = scoring_model_published()
    now = timezone.now()
    pqls_score(now=now)
    lead = Lead.objects.get()

    pqls_score(now=now + timedelta(days=model.expire_below_days - 4))
    lead.refresh_from_db()
    assert lead.status == "new"
    assert Score.objects.get(workspace=workspace).is_pql is False  # idle: engagement decays

    pqls_score(now=now + timedelta(days=model.expire_below_days + 1))
    lead.refresh_from_db()
    assert lead.status == "expired"
    assert lead.close_reason == f"below the PQL threshold for {model.expire_below_days} days"
    assert LeadActivity.objects.filter(lead=lead, kind="expired").count() == 1


def test_a_self_serve_upgrade_closes_the_open_lead_as_won_with_the_mrr_it_added():
    no_trial("pro")
    workspace = free_near_its_limit()
    pqls_score(now=timezone.now())
    lead = Lead.objects.get()

    # The local gateway's events go through the real webhook path; the mirror sends
    # workspace_upgraded on commit and the receiver queues the (eager) closing task.
    subscription = subscribe(workspace, plan="pro", seats=3)

    lead.refresh_from_db()
    assert (lead.status, lead.won_via) == ("won", "self_serve")
    assert subscription.mrr_cents > 0
    assert lead.mrr_change_cents == subscription.mrr_cents
    assert LeadActivity.objects.filter(lead=lead, kind="won").count() == 1


def test_an_admin_upgrade_closes_the_lead_as_won_through_sales_and_a_downgrade_closes_nothing(
    django_capture_on_commit_callbacks,
):
    upgraded = free_near_its_limit()
    downgraded = free_near_its_limit("Umbrella", "umbrella.io", plan="pro", calls=240_000)
    pqls_score(now=timezone.now())
    assert Lead.objects.filter(status="new").count() == 2

    with django_capture_on_commit_callbacks(execute=True):
        subscription_set_plan(
            workspace=upgraded, plan=Plan.objects.get(code="business"), actor=None, reason="deal"
        )
        subscription_set_plan(
            workspace=downgraded, plan=Plan.objects.get(code="free"), actor=None, reason="asked"
        )

    won = Lead.objects.get(workspace=upgraded)
    assert (won.status, won.won_via, won.close_reason) == ("won", "sales", "plan set by sales")
    assert Lead.objects.get(workspace=downgraded).status == "new"


def test_the_command_scores_with_a_progress_bar_and_says_what_it_did(capsys):
    free_near_its_limit()
    quiet("Initech")
    quiet("Hooli")
    out = io.StringIO()

    call_command("score_pqls", "--chunk-size", "2", "--now", timezone.now().isoformat(), stdout=out)

    run = ScoringRun.objects.get()
    assert out.getvalue() == (
        f"Run {run.pk} (finished): scored up to 3 workspaces in 2 chunks with scoring model "
        "version 1.\n"
    )
    assert capsys.readouterr().err.endswith(f"[{'#' * 30}] 2/2 chunks\n")
    assert Score.objects.count() == 3


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--now", "yesterday"], "--now: “yesterday” is not an ISO 8601 time with a time zone."),
        (
            ["--now", "2025-03-10T09:00:00"],
            "--now: “2025-03-10T09:00:00” is not an ISO 8601 time with a time zone.",
        ),
        (["--chunk-size", "0"], "--chunk-size must be at least 1."),
    ],
)
def test_the_command_refuses_a_bad_now_or_chunk_size_and_scores_nothing(arguments, message):
    quiet("Initech")

    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("score_pqls", *arguments)

    assert not ScoringRun.objects.exists()
    assert not Score.objects.exists()


def test_a_chunk_takes_as_many_queries_for_thirty_workspaces_as_for_three(
    django_assert_num_queries,
):
    def shape(count: int, tag: str) -> tuple[int, int]:
        built = [free_near_its_limit(f"Pql {tag}", f"pql-{tag}.io")]
        built += [active(f"Active {tag}{n}", f"a{tag}{n}.com") for n in range(count - 1)]
        return built[0].pk, built[-1].pk + 1

    small = shape(3, "s")
    large = shape(30, "l")
    now = timezone.now()
    model = scoring_model_published()
    chunk_results(pk_from=small[0], pk_to=small[1], now=now, model=model)  # warm the caches
    run = scoring_run_start(model=model, now=now, chunk_count=3)  # neither finishes it

    with CaptureQueriesContext(connections["default"]) as three:
        chunk_score(run_id=run.pk, chunk=0, pk_from=small[0], pk_to=small[1])
    with django_assert_num_queries(len(three.captured_queries)):
        chunk_score(run_id=run.pk, chunk=1, pk_from=large[0], pk_to=large[1])

    assert Score.objects.count() == 33
    assert Lead.objects.count() == 2
