"""POST /billing/stripe/webhook/: verified, stored once, acknowledged fast, processed after
the commit by the Celery task."""

import json
import threading
import time

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from billing.models import RevenueMovement, StripeEvent, Subscription
from tests.billing.stripe.conftest import WEBHOOK_SECRET
from tests.billing.stripe.payloads import (
    START,
    body_of,
    checkout_session,
    event,
    post_event,
    signed_headers,
    subscription,
    unique,
)

URL = "/billing/stripe/webhook/"
pytestmark = pytest.mark.django_db


def _created_event(workspace, stripe_prices, *, seats: int = 5) -> dict:
    price_id, amount = stripe_prices["pro"]
    obj = subscription(
        subscription_id=unique("sub"),
        customer_id=unique("cus"),
        price_id=price_id,
        unit_amount=amount,
        quantity=seats,
        workspace_id=workspace.pk,
    )
    return event("customer.subscription.created", obj, created=START)


def test_the_endpoint_is_mounted_at_the_documented_path():
    assert reverse("stripe_webhook") == URL


def test_signed_event_is_stored_acknowledged_and_processed_after_commit(
    client, workspace, stripe_prices, django_capture_on_commit_callbacks
):
    evt = _created_event(workspace, stripe_prices)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_event(client, evt)

    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": False, "id": evt["id"]}
    stored = StripeEvent.objects.get()
    assert (stored.stripe_id, stored.type, stored.status) == (evt["id"], evt["type"], "pending")
    assert stored.payload == evt
    assert stored.created.timestamp() == START
    assert len(callbacks) == 1  # the task is queued once the row is committed, not before

    callbacks[0]()  # the commit happens: the task runs (eagerly in the suite)
    stored.refresh_from_db()
    assert stored.status == StripeEvent.Status.PROCESSED
    assert stored.processed_at is not None
    assert Subscription.objects.get(workspace=workspace).seats == 5


def test_acknowledging_an_event_calls_no_stripe_api(client, workspace, stripe_prices, fake_stripe):
    evt = _created_event(workspace, stripe_prices)
    # Checkout completing before the subscription's events needs a fetch — but only in the
    # task, never in the request.
    session = checkout_session(
        session_id=unique("cs"),
        workspace_id=workspace.pk,
        customer_id=evt["data"]["object"]["customer"],
        subscription_id=evt["data"]["object"]["id"],
    )
    checkout = event("checkout.session.completed", session, created=START)
    assert post_event(client, checkout).status_code == 200  # on_commit never runs here
    assert post_event(client, evt).status_code == 200
    assert fake_stripe.requests == []
    assert StripeEvent.objects.filter(status="pending").count() == 2


def test_duplicate_delivery_is_acknowledged_as_duplicate_and_processed_once(
    workspace, stripe_prices, deliver
):
    evt = _created_event(workspace, stripe_prices)

    first = deliver(evt)
    second = deliver(evt)

    assert first.json()["duplicate"] is False
    assert second.json() == {"received": True, "duplicate": True}
    assert StripeEvent.objects.count() == 1
    assert StripeEvent.objects.get().attempts == 1
    assert RevenueMovement.objects.count() == 1


def test_a_wrong_signature_answers_400_and_stores_nothing(client, workspace, stripe_prices):
    evt = _created_event(workspace, stripe_prices)

    response = post_event(client, evt, secret="whsec_someone_else")

    assert response.status_code == 400
    assert "Invalid Stripe signature" in response.json()["error"]
    assert "No signatures found matching the expected signature" in response.json()["error"]
    assert not StripeEvent.objects.exists()


def test_a_signature_older_than_five_minutes_answers_400_and_stores_nothing(
    client, workspace, stripe_prices
):
    evt = _created_event(workspace, stripe_prices)

    response = post_event(client, evt, timestamp=int(time.time()) - 301)

    assert response.status_code == 400
    assert "Timestamp outside the tolerance zone" in response.json()["error"]
    assert not StripeEvent.objects.exists()


def test_a_signature_just_inside_the_tolerance_is_accepted(client, workspace, stripe_prices):
    evt = _created_event(workspace, stripe_prices)

    response = post_event(client, evt, timestamp=int(time.time()) - 290)

    assert response.status_code == 200
    assert StripeEvent.objects.count() == 1


def test_a_missing_signature_header_answers_400_and_stores_nothing(
    client, workspace, stripe_prices
):
    body = body_of(_created_event(workspace, stripe_prices))

    response = client.post(URL, data=body, content_type="application/json")

    assert response.status_code == 400
    assert "No Stripe-Signature header" in response.json()["error"]
    assert not StripeEvent.objects.exists()


def test_a_body_changed_after_signing_answers_400_and_stores_nothing(
    client, workspace, stripe_prices
):
    evt = _created_event(workspace, stripe_prices)
    headers = signed_headers(body_of(evt))
    evt["data"]["object"]["items"]["data"][0]["quantity"] = 500

    response = client.post(URL, data=body_of(evt), content_type="application/json", **headers)

    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


def test_a_signed_body_that_is_not_a_stripe_event_answers_400(client):
    body = json.dumps({"object": "event", "id": "evt_1", "type": "invoice.paid"}).encode()

    response = client.post(URL, data=body, content_type="application/json", **signed_headers(body))

    assert response.status_code == 400
    assert "Not a Stripe event" in response.json()["error"]
    assert not StripeEvent.objects.exists()


def test_get_is_not_allowed(client):
    assert client.get(URL).status_code == 405


def test_the_endpoint_needs_no_csrf_token(workspace, stripe_prices):
    csrf_client = Client(enforce_csrf_checks=True)
    evt = _created_event(workspace, stripe_prices)

    assert post_event(csrf_client, evt).status_code == 200


def test_an_unknown_event_type_is_stored_acknowledged_and_skipped(deliver):
    evt = event("customer.tax_id.created", {"id": "txi_1", "object": "tax_id"}, created=START)

    response = deliver(evt)

    assert response.json()["duplicate"] is False
    stored = StripeEvent.objects.get()
    assert stored.status == StripeEvent.Status.SKIPPED
    assert stored.error == "customer.tax_id.created is not handled"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_deliveries_of_one_event_store_it_once(workspace, stripe_prices):
    evt = _created_event(workspace, stripe_prices)
    body = body_of(evt)
    headers = signed_headers(body, secret=WEBHOOK_SECRET)
    threads_count = 8
    barrier = threading.Barrier(threads_count)
    answers: list[dict] = []

    def deliver() -> None:
        try:
            barrier.wait()
            response = Client().post(URL, data=body, content_type="application/json", **headers)
            answers.append(response.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(answers) == threads_count
    assert sum(not answer["duplicate"] for answer in answers) == 1
    assert StripeEvent.objects.count() == 1
    assert StripeEvent.objects.get().status == StripeEvent.Status.PROCESSED
    assert RevenueMovement.objects.count() == 1


def test_a_body_that_is_not_utf8_answers_400_and_stores_nothing(client):
    # Signed or not: Stripe's SDK decodes the body before it checks the signature.
    body = b'{"id": "evt_1", "object": "event", "x": "\xff\xfe"}'

    response = client.post(URL, data=body, content_type="application/json", **signed_headers(body))

    assert response.status_code == 400
    assert "not UTF-8" in response.json()["error"]
    assert StripeEvent.objects.count() == 0
