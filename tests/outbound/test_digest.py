"""The sales managers' weekly digest: last week's new PQLs, won and lost, missed first
contacts and MRR added by rep, e-mailed once a week however often the job runs."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from outbound.digest import week_before, weekly_digest_send
from pql.services import lead_claim, lead_close_won, lead_status_change, leads_sla_check
from tests.pql.conftest import leads_open, staff

pytestmark = pytest.mark.django_db

# A Monday morning; the digest covers Monday 2025-03-03 to Sunday 2025-03-09.
SENT = datetime(2025, 3, 10, 6, 30, tzinfo=UTC)
IN_WEEK = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)


def test_the_week_is_the_seven_days_before_this_monday():
    assert week_before(SENT) == (
        datetime(2025, 3, 3, tzinfo=UTC),
        datetime(2025, 3, 10, tzinfo=UTC),
    )
    assert week_before(SENT + timedelta(days=3))[0] == datetime(2025, 3, 3, tzinfo=UTC)


def test_the_digest_tells_managers_the_week_once(manager, rep):
    second_manager = staff("boss@handoff.test", "Sales", "Sales managers")
    leads = leads_open(4, now=IN_WEEK, engagement=lambda i: 60 + i)
    leads_open(1, now=IN_WEEK - timedelta(days=8), prefix="Older co")  # the week before
    won_by_rep, won_self_serve, lost, breached = leads
    lead_claim(lead=won_by_rep.pk, actor=rep, now=IN_WEEK)
    lead_close_won(
        workspace_id=won_by_rep.workspace_id,
        via="sales",
        mrr_after_cents=12_000,
        now=IN_WEEK + timedelta(days=1),
        actor=rep,
    )
    lead_close_won(
        workspace_id=won_self_serve.workspace_id,
        via="self_serve",
        mrr_after_cents=2_900,
        now=IN_WEEK + timedelta(days=2),
    )
    lead_claim(lead=lost.pk, actor=rep, now=IN_WEEK)
    lead_status_change(lead=lost.pk, status="lost", actor=rep, reason="Chose a rival", now=IN_WEEK)
    leads_sla_check(now=breached.sla_due_at + timedelta(minutes=5))

    assert weekly_digest_send(now=SENT) == 2
    assert weekly_digest_send(now=SENT + timedelta(hours=1)) == 0

    (message,) = mail.outbox
    assert sorted(message.bcc) == sorted([manager.email, second_manager.email])
    assert message.to == []
    assert message.subject == "Sales week of March 3: 4 new PQLs"
    body = message.body
    assert "New PQLs: 4" in body
    assert "Won: 2" in body
    assert "Lost: 1" in body
    # the older lead, never contacted, also became overdue this week
    assert "First contacts missed (SLA breaches): 2" in body
    assert "Older co" not in body
    assert body.index("Lead co 3") < body.index("Lead co 0")  # most engaged first
    assert f"/sales/leads/{breached.pk}/" in body
    assert "- rep@handoff.test: $120 a month from 1 won lead" in body
    assert "- Nobody (self-serve): $29 a month from 1 won lead" in body
    html = message.alternatives[0].content
    assert "Expansion revenue by rep" in html


def test_without_sales_managers_no_digest_is_sent(rep):
    leads_open(1, now=IN_WEEK)
    assert weekly_digest_send(now=SENT) == 0
    assert mail.outbox == []
