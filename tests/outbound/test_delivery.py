"""Webhook deliveries against a real HTTP receiver on 127.0.0.1: signed the way Stripe signs,
retried with backoff after a 500 and not after a 2xx, the same idempotency id on every
attempt, written with the change that caused them, and sent by the sweeper when their
queue message was lost."""

import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.urls import reverse

from outbound import sending, services, signing, tasks
from outbound.models import Delivery, Endpoint, Event
from pql.models import Lead
from pql.services import lead_claim, lead_status_change
from tests.outbound.conftest import ALL_TYPES
from tests.pql.conftest import open_leads

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("loopback_allowed")]


def _endpoint(manager, receiver, event_types=("lead.opened",)) -> Endpoint:
    endpoint, secret = services.endpoint_create(
        actor=manager, url=receiver.url, event_types=event_types
    )
    receiver.secret = secret
    return endpoint


def _open_lead(capture, name="Northwind") -> Lead:
    with capture(execute=True):
        (lead,) = open_leads([name])
    return lead


def test_a_delivery_is_signed_so_the_receiver_verifies_it_with_the_secret_shown_once(
    manager, receiver, django_capture_on_commit_callbacks
):
    endpoint = _endpoint(manager, receiver)

    lead = _open_lead(django_capture_on_commit_callbacks)

    (request,) = receiver.received
    assert request.signature_ok is True
    assert request.path == "/hooks/handoff"
    assert request.headers["Content-Type"] == "application/json"
    event = request.json
    assert event["type"] == "lead.opened"
    assert event["id"].startswith("evt_")
    assert request.headers["Idempotency-Key"] == event["id"]
    assert request.headers["Handoff-Event-Id"] == event["id"]
    data = event["data"]["lead"]
    assert data["id"] == lead.pk
    assert data["workspace"]["name"] == "Northwind"
    assert data["url"].endswith(reverse("sales_lead", args=[lead.pk]))
    assert "uses 92% of 10,000 API calls" in data["top_reasons"]
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 200)
    # The secret is derived, not stored: the row holds a salt and the last characters only.
    stored = Endpoint.objects.filter(pk=endpoint.pk).values().get()
    assert receiver.secret not in json.dumps(stored, default=str)
    assert stored["secret_hint"] == receiver.secret[-4:]


def test_a_signature_made_with_another_secret_or_over_another_body_does_not_verify(
    manager, receiver, django_capture_on_commit_callbacks
):
    _endpoint(manager, receiver)
    real_secret = receiver.secret
    receiver.secret = signing.endpoint_secret("another salt")

    _open_lead(django_capture_on_commit_callbacks)

    (request,) = receiver.received
    assert request.signature_ok is False
    header = request.headers["Handoff-Signature"]
    now = int(header.split(",")[0][2:])
    assert signing.signature_verify(real_secret, header, request.body, now=now)
    assert not signing.signature_verify(real_secret, header, request.body + b" ", now=now)
    assert not signing.signature_verify(real_secret, header, request.body, now=now + 301)


def test_a_500_is_retried_after_a_backoff_with_the_same_idempotency_id_and_body(
    manager, receiver, django_capture_on_commit_callbacks
):
    _endpoint(manager, receiver)
    receiver.statuses = [500]

    _open_lead(django_capture_on_commit_callbacks)

    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.last_response == "receiver is down: try again later"
    wait = delivery.next_attempt_at - delivery.last_attempt_at
    assert timedelta(seconds=50) < wait < timedelta(seconds=70)
    assert len(receiver.received) == 1

    # Not due yet: the sweeper leaves it.
    assert tasks.deliveries_queue_due(now=delivery.last_attempt_at + timedelta(seconds=30)) == 0
    assert len(receiver.received) == 1
    # Due: the sweeper sends it again, and the receiver answers 200 this time.
    assert tasks.deliveries_queue_due(now=delivery.next_attempt_at + timedelta(seconds=1)) == 1

    first, second = receiver.received
    assert second.signature_ok is True
    assert second.body == first.body
    assert second.headers["Idempotency-Key"] == first.headers["Idempotency-Key"]
    assert second.headers["Handoff-Delivery-Attempt"] == "2"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 2, 200)


def test_a_2xx_is_not_retried(manager, receiver, django_capture_on_commit_callbacks):
    _endpoint(manager, receiver)
    receiver.statuses = [204]

    _open_lead(django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get()
    assert tasks.deliveries_queue_due(now=delivery.created_at + timedelta(days=2)) == 0

    assert len(receiver.received) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("succeeded", 1, None)


def test_a_failing_receiver_is_tried_for_about_a_day_then_the_delivery_fails(
    manager, receiver, django_capture_on_commit_callbacks
):
    _endpoint(manager, receiver)
    receiver.statuses = [500] * 20

    _open_lead(django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get()
    while delivery.status == Delivery.Status.PENDING:
        tasks.deliveries_queue_due(now=delivery.next_attempt_at)
        delivery.refresh_from_db()

    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempts == sending.MAX_ATTEMPTS == len(receiver.received)
    span = delivery.last_attempt_at - delivery.created_at
    assert timedelta(hours=18) < span < timedelta(hours=27)
    assert len({r.headers["Idempotency-Key"] for r in receiver.received}) == 1


def test_an_unreachable_endpoint_is_recorded_and_retried(
    manager, receiver, django_capture_on_commit_callbacks
):
    endpoint = _endpoint(manager, receiver)
    Endpoint.objects.filter(pk=endpoint.pk).update(url="http://127.0.0.1:9/closed")

    _open_lead(django_capture_on_commit_callbacks)

    delivery = Delivery.objects.get()
    assert delivery.status == "pending"
    assert delivery.attempts == 1
    assert delivery.last_status_code is None
    assert "Connection" in delivery.last_error


def test_deliveries_are_written_in_the_transaction_of_the_change_and_undone_with_it(
    manager, receiver, django_capture_on_commit_callbacks
):
    _endpoint(manager, receiver, event_types=ALL_TYPES)
    lead = _open_lead(django_capture_on_commit_callbacks)
    lead_claim(lead=lead.pk, actor=manager)
    before = Event.objects.count()
    during = []

    @transaction.atomic
    def lose_then_fail() -> None:
        lead_status_change(lead=lead.pk, status="lost", actor=manager, reason="No budget")
        during.append(Event.objects.count())
        raise RuntimeError("the request failed after the change")

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        lose_then_fail()

    assert during == [before + 2]  # status changed, lost
    assert Event.objects.count() == before
    assert len(receiver.received) == 1  # the opening only


def test_a_status_change_and_a_loss_are_each_delivered_to_their_subscribers(
    manager, receiver, django_capture_on_commit_callbacks
):
    _endpoint(manager, receiver, event_types=["lead.status_changed", "lead.lost"])
    lead = _open_lead(django_capture_on_commit_callbacks)
    lead_claim(lead=lead.pk, actor=manager)

    with django_capture_on_commit_callbacks(execute=True):
        lead_status_change(lead=lead.pk, status="lost", actor=manager, reason="No budget")

    changed, lost = (request.json for request in receiver.received)
    assert changed["type"] == "lead.status_changed"
    assert (changed["data"]["previous_status"], changed["data"]["status"]) == ("new", "lost")
    assert changed["data"]["reason"] == "No budget"
    assert lost["type"] == "lead.lost"
    assert lost["data"]["lead"]["close_reason"] == "No budget"


def test_a_delivery_whose_queue_message_was_lost_is_sent_by_the_sweeper(
    manager, receiver, django_capture_on_commit_callbacks
):
    _endpoint(manager, receiver)
    with django_capture_on_commit_callbacks(execute=False):  # the message never reaches a worker
        open_leads(["Northwind"])
    assert receiver.received == []

    assert tasks.deliveries_queue_due() == 1

    (request,) = receiver.received
    assert request.signature_ok is True
    assert Delivery.objects.get().status == "succeeded"


def test_a_delivery_claimed_by_one_worker_is_not_sent_by_another(
    manager, receiver, django_capture_on_commit_callbacks
):
    _endpoint(manager, receiver)
    with django_capture_on_commit_callbacks(execute=False):
        open_leads(["Northwind"])
    delivery = Delivery.objects.get()

    assert sending.delivery_attempt(delivery_id=delivery.pk) is not None
    assert sending.delivery_attempt(delivery_id=delivery.pk) is None

    assert len(receiver.received) == 1
