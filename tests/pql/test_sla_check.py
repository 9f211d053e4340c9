"""The first-contact SLA job: it warns the owner once when a lead is at risk, marks a breach
once and e-mails the owner (the managers for an unowned lead), and says nothing after a
contact. Leads open on Monday 9:00 UTC and are due on Wednesday 17:00 (24 working hours)."""

from datetime import UTC, datetime

import pytest
from django.core import mail

from config.celery_app import app
from pql.models import LeadActivity
from pql.services import lead_claim, lead_contact_log, leads_sla_check
from pql.tasks import leads_sla_check_task
from tests.pql.conftest import leads_open

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead(db):
    """A lead opened on a Monday at 9:00 UTC, the start of the default working week."""
    return leads_open(1)[0]


DUE = datetime(2025, 3, 12, 17, 0, tzinfo=UTC)
BEFORE_RISK = datetime(2025, 3, 12, 14, 0, tzinfo=UTC)  # 3 working hours before
AT_RISK = datetime(2025, 3, 12, 15, 30, tzinfo=UTC)  # 1.5 working hours before


def _check(capture, now):
    with capture(execute=True):
        return leads_sla_check(now=now)


def test_leads_open_due_after_24_working_hours(lead):
    assert lead.sla_due_at == DUE


def test_the_owner_is_warned_once_when_a_lead_is_at_risk(
    lead, rep, django_capture_on_commit_callbacks
):
    lead_claim(lead=lead, actor=rep)

    assert _check(django_capture_on_commit_callbacks, BEFORE_RISK) == (0, 0)
    assert _check(django_capture_on_commit_callbacks, AT_RISK) == (1, 0)
    assert _check(django_capture_on_commit_callbacks, AT_RISK) == (0, 0)

    assert [m.to for m in mail.outbox] == [["rep@handoff.test"]]
    message = mail.outbox[0]
    assert message.subject == "First contact due soon: Lead co 0"
    assert "Wednesday March 12, 17:00 UTC" in message.body
    assert f"/sales/leads/{lead.pk}/" in message.body
    lead.refresh_from_db()
    assert lead.sla_warned_at == AT_RISK
    assert list(LeadActivity.objects.filter(lead=lead, kind="sla_at_risk").values("at")) == [
        {"at": AT_RISK}
    ]


def test_a_breach_is_marked_once_and_e_mails_the_owner(
    lead, rep, django_capture_on_commit_callbacks
):
    lead_claim(lead=lead, actor=rep)

    assert _check(django_capture_on_commit_callbacks, DUE) == (0, 1)
    assert _check(django_capture_on_commit_callbacks, DUE.replace(hour=18)) == (0, 0)

    assert [(m.subject, m.to) for m in mail.outbox] == [
        ("First contact overdue: Lead co 0", ["rep@handoff.test"])
    ]
    lead.refresh_from_db()
    assert lead.sla_breached_at == DUE
    assert LeadActivity.objects.filter(lead=lead, kind="sla_breached").count() == 1


def test_an_unowned_breach_e_mails_the_managers_and_an_unowned_risk_nobody(
    lead, rep, manager, django_capture_on_commit_callbacks
):
    assert _check(django_capture_on_commit_callbacks, AT_RISK) == (0, 0)
    assert _check(django_capture_on_commit_callbacks, DUE) == (0, 1)

    assert [m.to for m in mail.outbox] == [["manager@handoff.test"]]


def test_nothing_is_sent_after_a_contact(lead, rep, django_capture_on_commit_callbacks):
    lead_claim(lead=lead, actor=rep)
    lead_contact_log(lead=lead, channel="call", actor=rep, now=BEFORE_RISK)

    assert _check(django_capture_on_commit_callbacks, AT_RISK) == (0, 0)
    assert _check(django_capture_on_commit_callbacks, DUE) == (0, 0)

    assert mail.outbox == []


def test_a_warning_queued_before_the_contact_is_not_sent_after_it(
    lead, rep, django_capture_on_commit_callbacks
):
    lead_claim(lead=lead, actor=rep)
    with django_capture_on_commit_callbacks() as queued:
        leads_sla_check(now=AT_RISK)
    lead_contact_log(lead=lead, channel="email", actor=rep, now=AT_RISK)

    for callback in queued:
        callback()

    assert mail.outbox == []


def test_the_beat_job_runs_the_check_every_five_minutes(rep, django_capture_on_commit_callbacks):
    leads = leads_open(2, now=datetime(2020, 1, 6, 9, tzinfo=UTC))
    lead_claim(lead=leads[0], actor=rep)

    with django_capture_on_commit_callbacks(execute=True):
        assert leads_sla_check_task.delay().get() == "0 at risk, 2 breached"

    entry = next(
        e for e in app.conf.beat_schedule.values() if e["task"] == "pql.tasks.leads_sla_check"
    )
    assert entry["schedule"] == 300.0
    # The unowned lead's breach goes to the managers: there are none here.
    assert [(m.subject, m.to) for m in mail.outbox] == [
        ("First contact overdue: Lead co 0", ["rep@handoff.test"])
    ]
