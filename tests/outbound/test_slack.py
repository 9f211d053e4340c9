"""New PQLs and missed first contacts in Slack, in the shape Slack's incoming webhooks take
(``text``, the fallback, plus optional Block Kit ``blocks``), posted to a real local server;
a digest instead of a flood when many arrive at once."""

from datetime import timedelta

import pytest
from django.urls import reverse

from outbound import sending, services, tasks
from outbound.models import Delivery
from pql.services import leads_sla_check
from tests.pql.conftest import MONDAY, leads_open, open_leads

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("loopback_allowed")]

BLOCK_TYPES = {"section", "context", "header", "divider"}


def assert_slack_shape(message: dict) -> None:
    """Slack's documented incoming-webhook payload: a non-empty ``text`` (shown in
    notifications), optional ``blocks`` (at most 50), each section with a mrkdwn or
    plain_text ``text`` of at most 3,000 characters, each context with 1-10 elements."""
    assert set(message) <= {"text", "blocks"}
    assert isinstance(message["text"], str)
    assert message["text"].strip()
    blocks = message.get("blocks", [])
    assert isinstance(blocks, list)
    assert len(blocks) <= 50
    for block in blocks:
        assert block["type"] in BLOCK_TYPES
        if block["type"] == "section":
            assert block["text"]["type"] in {"mrkdwn", "plain_text"}
            assert 0 < len(block["text"]["text"]) <= 3000
        if block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10
            for element in block["elements"]:
                assert element["type"] in {"mrkdwn", "plain_text", "image"}


def _slack(manager, receiver):
    return services.slack_set(actor=manager, url=receiver.url)


def test_a_new_pql_is_posted_with_its_workspace_score_type_reasons_and_link(
    manager, receiver, django_capture_on_commit_callbacks
):
    _slack(manager, receiver)

    with django_capture_on_commit_callbacks(execute=True):
        (lead,) = open_leads(["Northwind"], engagement=81, fit=64, lead_type="expansion")

    (request,) = receiver.received
    message = request.json
    assert_slack_shape(message)
    assert "New PQL: Northwind" in message["text"]
    everything = str(message["blocks"])
    assert "engagement 81, fit 64" in everything
    assert "expansion lead" in everything
    assert "uses 92% of 10,000 API calls" in everything
    assert f"{reverse('sales_lead', args=[lead.pk])}|Northwind>" in everything
    assert Delivery.objects.get().status == "succeeded"


def test_names_are_escaped_so_they_cannot_mention_everyone_or_forge_a_link(
    manager, receiver, django_capture_on_commit_callbacks
):
    _slack(manager, receiver)

    with django_capture_on_commit_callbacks(execute=True):
        open_leads(["<!channel> & <https://evil.example|Co>"])

    blocks = str(receiver.received[0].json["blocks"])
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|Co&gt;" in blocks
    assert "<!channel>" not in blocks


def test_many_new_pqls_at_once_are_one_digest_message(
    manager, receiver, django_capture_on_commit_callbacks
):
    _slack(manager, receiver)

    with django_capture_on_commit_callbacks(execute=True):
        leads_open(14, engagement=lambda i: 50 + i)  # one scoring run opens 14 leads

    (request,) = receiver.received
    message = request.json
    assert_slack_shape(message)
    assert message["text"] == "14 new PQLs"
    everything = str(message["blocks"])
    assert "Lead co 13" in everything  # the most engaged are named…
    assert "Lead co 0>" not in everything
    assert "and 4 more" in everything  # …the rest counted
    assert reverse("sales_queue") in everything
    assert set(Delivery.objects.values_list("status", flat=True)) == {"succeeded"}


def test_a_missed_first_contact_is_posted(manager, receiver, django_capture_on_commit_callbacks):
    _slack(manager, receiver)
    with django_capture_on_commit_callbacks(execute=False):
        (lead,) = leads_open(1, now=MONDAY)
    sending.slack_flush()
    receiver.received.clear()

    with django_capture_on_commit_callbacks(execute=True):
        leads_sla_check(now=lead.sla_due_at + timedelta(minutes=1))

    (request,) = receiver.received
    assert_slack_shape(request.json)
    assert request.json["text"].startswith("First contact overdue: Lead co 0")


def test_slack_failing_is_retried_and_then_posts_everything_that_waited(
    manager, receiver, django_capture_on_commit_callbacks
):
    _slack(manager, receiver)
    receiver.statuses = [500]
    with django_capture_on_commit_callbacks(execute=True):
        open_leads(["Northwind"])
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 1)

    tasks.deliveries_queue_due(now=delivery.next_attempt_at + timedelta(seconds=1))

    assert len(receiver.received) == 2
    assert receiver.received[1].json == receiver.received[0].json
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 2)
