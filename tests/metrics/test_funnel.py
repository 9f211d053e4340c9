"""Funnel and loops, hand-computed: cohorts with known conversion, activation times, a
K-factor from known invitations, stickiness, PQLs and why people leave."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts import services as accounts_services
from metrics import selectors
from metrics.selectors import Money, Period
from pql.models import Lead
from pql.services import lead_close_won
from tests.factories import UserFactory
from tests.metrics.conftest import Ledger, at, open_lead, paying, signed_up
from usage.models import ActivePersonDay

pytestmark = pytest.mark.django_db

JAN_FEB = Period(first=date(2025, 1, 1), last=date(2025, 2, 1))


def two_cohorts():
    """January: four sign-ups, two activated (after 2 and 4 days; one of them paid) and two
    not (one paid). February: two sign-ups, one activated after 10 days and paid, one not."""
    jan = at(2025, 1, 6)
    a1 = signed_up("Jan activated paid", jan, activated=jan + timedelta(days=2))
    Ledger(a1).move("new", 1000, at(2025, 1, 20))
    a2 = signed_up("Jan activated", jan, activated=jan + timedelta(days=4))
    n1 = signed_up("Jan paid unactivated", jan)
    Ledger(n1).move("new", 1000, at(2025, 3, 1))
    n2 = signed_up("Jan idle", jan)
    feb = at(2025, 2, 3)
    f1 = signed_up("Feb activated paid", feb, activated=feb + timedelta(days=10))
    Ledger(f1).move("new", 1000, at(2025, 2, 20))
    f2 = signed_up("Feb idle", feb)
    return a1, a2, n1, n2, f1, f2


def test_cohorts_with_known_conversion_split_by_activation():
    two_cohorts()
    jan, feb = selectors.cohorts(period=JAN_FEB)

    assert (jan.signups, jan.paid, jan.conversion) == (4, 2, Decimal("0.5"))
    assert (jan.activated, jan.activated_paid, jan.activated_conversion) == (2, 1, Decimal("0.5"))
    assert (jan.not_activated, jan.not_activated_paid) == (2, 1)
    assert jan.not_activated_conversion == Decimal("0.5")
    assert (feb.signups, feb.paid, feb.conversion) == (2, 1, Decimal("0.5"))
    assert (feb.activated_conversion, feb.not_activated_conversion) == (Decimal(1), Decimal(0))


def test_activation_rate_and_time_to_first_value():
    two_cohorts()
    result = selectors.activation(period=JAN_FEB)

    # Three of six activated, after 2, 4 and 10 days: the median is the 2nd of 3 (rank
    # ceil(0.5 x 3)), the 90th percentile the 3rd (rank ceil(0.9 x 3)).
    assert (result.signups, result.activated, result.rate) == (6, 3, Decimal("0.5"))
    assert result.median == timedelta(days=4)
    assert result.p90 == timedelta(days=10)


def test_signups_per_week():
    two_cohorts()
    # 6 January 2025 and 3 February 2025 are Mondays.
    assert selectors.signups_by_week(period=JAN_FEB) == [
        (date(2025, 1, 6), 4),
        (date(2025, 2, 3), 2),
    ]


def test_k_factor_from_known_invitations():
    a1, a2, n1, *_ = two_cohorts()
    # January: a1 invites two people who both accept, a2 invites one who does not, n1 invites
    # one and revokes it. February: nobody invites.
    for email in ("ann@a1.io", "bob@a1.io"):
        _, token = accounts_services.invitation_create(
            workspace=a1, email=email, actor=a1.created_by
        )
        accounts_services.invitation_accept(token=token, user=UserFactory(email=email))
    accounts_services.invitation_create(workspace=a2, email="cy@a2.io", actor=a2.created_by)
    revoked, _ = accounts_services.invitation_create(
        workspace=n1, email="di@n1.io", actor=n1.created_by
    )
    accounts_services.invitation_revoke(invitation=revoked, actor=n1.created_by)

    jan, feb = selectors.viral_cohorts(period=JAN_FEB)

    # 4 sent by 4 workspaces (1 per workspace), 2 accepted (50%): K = 1 x 0.5 = 0.5.
    assert (jan.workspaces, jan.sent, jan.accepted) == (4, 4, 2)
    assert jan.invitations_per_workspace == Decimal(1)
    assert jan.acceptance == Decimal("0.5")
    assert jan.k_factor == Decimal("0.5")
    assert (feb.workspaces, feb.sent, feb.k_factor) == (2, 0, Decimal(0))


def test_stickiness_is_average_daily_people_over_monthly_people():
    workspace = signed_up("Busy", at(2025, 1, 1))
    # January 2025 has 31 days: Ann active all 31, Bob on 3 days: average DAU 34 / 31.
    rows = [
        ActivePersonDay(workspace=workspace, name="report_exported", day=date(2025, 1, d), person=p)
        for d in range(1, 32)
        for p in (["ann@busy.io", "bob@busy.io"] if d <= 3 else ["ann@busy.io"])
    ]
    ActivePersonDay.objects.bulk_create(rows)
    (january,) = selectors.stickiness(period=Period(first=date(2025, 1, 1), last=date(2025, 1, 1)))

    assert january.mau == 2
    assert january.average_dau == Decimal("1.10")  # 34 / 31 = 1.097
    assert january.ratio == Decimal("0.55")


def test_pqls_per_week_conversion_and_revenue_won_by_sales_and_self_serve():
    monday = at(2025, 1, 6, 9)
    ws = [signed_up(f"Lead {i}", at(2025, 1, 1)) for i in range(4)]
    open_lead(ws[0], when=monday)
    open_lead(ws[1], when=monday + timedelta(days=1), lead_type="expansion")
    open_lead(ws[2], when=monday + timedelta(days=7))
    open_lead(ws[3], when=monday + timedelta(days=8))
    lead_close_won(
        workspace_id=ws[0].pk, via="sales", mrr_after_cents=5000, now=monday + timedelta(days=2)
    )
    lead_close_won(
        workspace_id=ws[2].pk,
        via="self_serve",
        mrr_after_cents=2000,
        now=monday + timedelta(days=13),
    )
    period = Period(first=date(2025, 1, 1), last=date(2025, 1, 1))

    assert selectors.pqls_by_week(period=period) == [
        (date(2025, 1, 6), {"upgrade": 1, "expansion": 1}),
        (date(2025, 1, 13), {"upgrade": 2, "expansion": 0}),
    ]
    conversion = selectors.pql_conversion(period=period)
    # Two of four won, after 2 and 6 days: median rank ceil(0.5 x 2) = 1st.
    assert (conversion.opened, conversion.won, conversion.rate) == (4, 2, Decimal("0.5"))
    assert (conversion.won_sales, conversion.won_self_serve) == (1, 1)
    assert conversion.median_to_paid == timedelta(days=2)
    assert conversion.p90_to_paid == timedelta(days=6)
    won = selectors.revenue_won_via(period=period, money=Money(currency="usd"))
    assert won[("sales", "upgrade")] == (1, 5000)
    assert won[("self_serve", "upgrade")] == (1, 2000)
    assert won[("sales", "expansion")] == (0, 0)


def test_cancellation_reasons_with_mrr_lost_linked_to_comments(client, billing_admin):
    paying("Pricey", at(2025, 1, 5), 4000).cancel(
        at(2025, 2, 10), "too_expensive", "We cannot afford it this year"
    )
    paying("Also pricey", at(2025, 1, 5), 1000).cancel(at(2025, 3, 1), "too_expensive")
    paying("Gone elsewhere", at(2025, 1, 5), 2500).cancel(at(2025, 2, 11), "switched_service")
    period = Period(first=date(2025, 2, 1), last=date(2025, 3, 1))

    reasons = {
        r.reason: r for r in selectors.cancellation_reasons(period=period, money=Money("usd"))
    }
    assert reasons["too_expensive"].count == 2
    assert reasons["too_expensive"].mrr_lost == 5000
    assert reasons["too_expensive"].by_month == {date(2025, 2, 1): 1, date(2025, 3, 1): 1}
    assert (reasons["switched_service"].count, reasons["switched_service"].mrr_lost) == (1, 2500)

    client.force_login(billing_admin)
    page = client.get(
        reverse("metrics_cancellations"),
        {"from": "2025-02", "to": "2025-03", "reason": "too_expensive", "month": "2025-02"},
    ).content.decode()
    assert "Pricey" in page
    assert "We cannot afford it this year" in page
    assert "$40" in page
    assert "Also pricey" not in page
    assert "Gone elsewhere" not in page


def test_funnel_figures_on_the_page_with_their_definitions(client, billing_admin):
    two_cohorts()
    client.force_login(billing_admin)
    page = client.get(reverse("metrics_dashboard"), {"from": "2025-01", "to": "2025-02"})
    text = page.content.decode()

    assert page.context["activation"].rate == Decimal("0.5")
    assert "50.0%" in text
    assert "4 days" in text  # median time to first value
    assert "10 days" in text  # 90th percentile
    assert "K-factor = invitations sent per workspace" in text
    assert "paid = has had a first payment" in text
    assert Lead.objects.count() == 0
