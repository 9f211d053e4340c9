"""Backtesting a scoring model: the computation on hand-built outcomes, the set-based MRR
increases it reads, the command and the admin page."""

import io
import re
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts import services as accounts_services
from accounts.roles import BILLING_ADMINS, SALES
from accounts.services import workspace_fit_set
from billing.entitlements import workspace_entitlements
from billing.selectors import mrr_increases, workspace_limits, workspace_mrr
from pql.backtest import Observation, backtest_days, backtest_evaluate
from pql.services import scoring_model_published
from tests.billing.test_flows import no_trial, subscribe
from tests.factories import UserFactory, WorkspaceFactory
from usage.ingestion import UsageEventIn, usage_events_ingest
from usage.models import Metric
from usage.services import product_event_record

D = date(2025, 3, 3)


def obs(engagement: int, fit: int, *, near: bool = False, converted: bool = False):
    return Observation(1, D, fit, engagement, near, converted)


OUTCOMES = [
    obs(90, 50, converted=True),
    obs(70, 50, near=True, converted=True),
    obs(65, 20, near=True, converted=True),  # engaged but a poor fit
    obs(40, 60, near=True),
    obs(20, 50, converted=True),
    obs(10, 50),
    obs(0, 0),
    obs(0, 45),
]


def test_each_threshold_gives_precision_recall_lift_and_the_rates_above_and_below():
    result = backtest_evaluate(OUTCOMES, fit_min=40, thresholds=(0, 60, 80))

    assert (result.total, result.converted, result.base_rate) == (8, 4, Fraction(1, 2))
    at_0, at_60, at_80 = result.rows
    # Fit ≥ 40 leaves 6 of 8; engagement ≥ 0 flags all 6, 3 of which converted.
    assert (at_0.flagged, at_0.flagged_converted) == (6, 3)
    assert (at_0.precision, at_0.recall, at_0.lift) == (Fraction(1, 2), Fraction(3, 4), 1)
    assert at_0.rate_below == Fraction(1, 2)  # the two poor fits: one converted
    assert (at_60.flagged, at_60.flagged_converted) == (2, 2)
    assert (at_60.precision, at_60.recall, at_60.lift) == (1, Fraction(1, 2), 2)
    assert at_60.rate_below == Fraction(2, 6)
    assert (at_80.flagged, at_80.precision, at_80.recall) == (1, 1, Fraction(1, 4))
    assert at_80.rate_below == Fraction(3, 7)
    assert at_0.label == "engagement ≥ 0"


def test_the_naive_baseline_flags_every_workspace_near_a_limit():
    baseline = backtest_evaluate(OUTCOMES, fit_min=40).baseline

    assert baseline.label == "used ≥ 80% of a limit"
    assert (baseline.flagged, baseline.flagged_converted) == (3, 2)
    assert baseline.precision == Fraction(2, 3)
    assert baseline.recall == Fraction(1, 2)
    assert baseline.lift == Fraction(4, 3)
    assert baseline.rate_below == Fraction(2, 5)


def test_without_a_fit_minimum_engagement_alone_flags_and_empty_rules_have_no_rates():
    result = backtest_evaluate(OUTCOMES, fit_min=None, thresholds=(60, 100))

    assert (result.rows[0].flagged, result.rows[0].flagged_converted) == (3, 3)
    nobody = result.rows[1]
    assert (nobody.flagged, nobody.precision, nobody.lift) == (0, None, None)
    assert backtest_evaluate([], fit_min=40).base_rate is None


def test_the_days_replayed_run_from_the_first_every_step_to_the_last():
    assert backtest_days(start=D, end=D + timedelta(days=15), step_days=7) == [
        D,
        D + timedelta(days=7),
        D + timedelta(days=14),
    ]


# With the database --------------------------------------------------------------------------


def replay_day() -> date:
    return timezone.now().astimezone(UTC).date() - timedelta(days=15)


def history():
    """As of the replay day: a company's workspace near its API calls with three active
    people, two hitting paywalls, that subscribes today (after the day); and a workspace
    that did nothing."""
    day = replay_day()
    at = datetime.combine(day, time(0), tzinfo=UTC)
    owner = UserFactory(email="ann@northwind.io")
    northwind = WorkspaceFactory(
        name="Northwind", created_by=owner, company_domain="northwind.io",
        now=at - timedelta(days=10),
    )  # fmt: skip
    workspace_fit_set(workspace=northwind, actor=owner, team_size="11-50", use_case="sales")
    for person in ("bob", "cy"):
        accounts_services.membership_create(
            workspace=northwind, user=UserFactory(email=f"{person}@northwind.io")
        )
    usage_events_ingest(
        workspace=northwind,
        events=[UsageEventIn(0, Metric.objects.get(key="api_calls"), 9_300, "c1", at)],
        limits=workspace_entitlements(workspace_id=northwind.pk),
        upgrade_url="/pricing/",
        now=at,
    )
    for n, person in enumerate(("ann", "bob", "cy")):
        email = f"{person}@northwind.io"
        product_event_record(
            workspace_id=northwind.pk, name="report_exported", user_email=email, occurred_at=at
        )
        if n < 2:
            product_event_record(
                workspace_id=northwind.pk, name="paywall_hit", user_email=email, occurred_at=at
            )
    WorkspaceFactory(
        name="Initech", created_by=UserFactory(email="x@initech.com"), now=at - timedelta(days=10)
    )
    no_trial("pro")
    subscribe(northwind, plan="pro", seats=3)
    return northwind


@pytest.mark.django_db
def test_mrr_increases_sum_what_raised_each_workspace_in_the_window():
    northwind = history()
    start = timezone.now() - timedelta(days=1)

    rises = mrr_increases(
        pk_from=0, pk_to=northwind.pk + 100, since=start, until=start + timedelta(days=2)
    )
    before = mrr_increases(
        pk_from=0, pk_to=northwind.pk + 100, since=start - timedelta(days=9), until=start
    )

    assert rises == {northwind.pk: workspace_mrr(workspace_id=northwind.pk)}
    assert rises[northwind.pk] > 0
    assert before == {}


@pytest.mark.django_db
def test_a_replayed_day_reads_whether_a_workspace_paid_then_from_the_ledger():
    northwind = history()
    then = datetime.combine(replay_day(), time(0), tzinfo=UTC)
    window = {"pk_from": northwind.pk, "pk_to": northwind.pk + 1}

    today = workspace_limits(**window, now=then)[northwind.pk]
    replayed = workspace_limits(**window, now=then, paid_from_ledger=True)[northwind.pk]
    now = workspace_limits(**window, now=timezone.now(), paid_from_ledger=True)[northwind.pk]

    assert (today.plan_code, today.is_paid) == ("pro", True)
    assert (replayed.plan_code, replayed.is_paid, replayed.mrr_cents) == ("free", False, 0)
    assert replayed.limits["api_calls"] == 10_000
    assert (now.plan_code, now.is_paid) == ("pro", True)


@pytest.mark.django_db
def test_the_command_replays_the_model_against_what_followed():
    history()
    day = replay_day().isoformat()
    out = io.StringIO()

    call_command("pql_backtest", "--from", day, "--to", day, "--horizon-days", "30", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == (
        f"Scoring model v1 (PQL: engagement ≥ 60, fit ≥ 40) replayed from {day} to {day} "
        "every 7 days; converted: MRR rose within 30 days."
    )
    assert lines[1] == "2 workspace-days, 1 converted (50.0%)."
    rows = {line[:24].strip(): line[24:].split() for line in lines[3:]}
    assert rows["engagement ≥ 60"] == ["1", "1", "100.0%", "100.0%", "2.00x", "100.0%", "0.0%"]
    assert rows["engagement ≥ 100"] == ["0", "0", "—", "0.0%", "—", "—", "50.0%"]
    assert rows["used ≥ 80% of a limit"] == [
        "1",
        "1",
        "100.0%",
        "100.0%",
        "2.00x",
        "100.0%",
        "0.0%",
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--model-version", "99"], "--model-version: there is no version 99."),
        (["--from", "March 3rd"], "--from: “March 3rd” is not a date (YYYY-MM-DD)."),
        (["--from", "2025-03-10", "--to", "2025-03-01"], "--from (2025-03-10) is after --to"),
        (["--from", "2025-03-01", "--days", "10"], "Give --from or --days, not both."),
        (["--step-days", "0"], "--step-days must be at least 1."),
    ],
)
def test_the_command_names_a_bad_option(arguments, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("pql_backtest", *arguments)


def _staff(client, group: str | None):
    user = UserFactory(
        email=f"{(group or 'nobody').split()[0].lower()}@handoff.test", is_staff=True
    )
    if group:
        user.groups.add(Group.objects.get(name=group))
    client.force_login(user)


@pytest.mark.django_db
def test_billing_admins_see_the_backtest_page_linked_from_the_model(client):
    history()
    _staff(client, BILLING_ADMINS)
    model = scoring_model_published()
    url = f"/admin/pql/scoringmodel/{model.pk}/backtest/"
    day = replay_day().isoformat()

    change = client.get(f"/admin/pql/scoringmodel/{model.pk}/change/")
    response = client.get(url, {"start": day, "end": day, "step_days": 7, "horizon_days": 30})

    assert url in change.content.decode()
    assert response.status_code == 200
    page = response.content.decode()
    assert "2 workspace-days, 1 converted (50.0%)." in page
    assert "Baseline: used ≥ 80% of a limit" in page
    assert "<td>2.00x</td>" in page


@pytest.mark.django_db
@pytest.mark.parametrize(("group", "status"), [(SALES, 200), (None, 403)])
def test_the_backtest_page_needs_the_view_permission_on_scoring_models(client, group, status):
    _staff(client, group)
    model = scoring_model_published()

    response = client.get(f"/admin/pql/scoringmodel/{model.pk}/backtest/")

    assert response.status_code == status


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"start": "soon"}, "start: “soon” is not a date"),
        ({"step_days": "0"}, "step_days: a whole number from 1 to 365."),
        ({"start": "2025-03-10", "end": "2025-03-01"}, "start: the first day is after the last."),
    ],
)
def test_a_bad_backtest_option_gets_400_naming_it(client, query, message):
    _staff(client, BILLING_ADMINS)
    model = scoring_model_published()

    response = client.get(f"/admin/pql/scoringmodel/{model.pk}/backtest/", query)

    assert response.status_code == 400
    assert message in response.content.decode()
