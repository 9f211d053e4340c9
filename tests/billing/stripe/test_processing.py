"""The Celery task that processes a stored event: retried on transient errors with backoff,
failed events keep their error, safe to run twice, lost queue messages re-created."""

from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError
from django.utils import timezone

from billing.models import RevenueMovement, StripeEvent, Subscription
from billing.stripe.client import StripeUnavailable
from billing.tasks import stripe_event_process, stripe_events_requeue
from config.celery_app import app as celery_app
from tests.billing.stripe.payloads import post_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def retries_as_a_worker():
    """Eager tasks hand a retry back to the caller while errors propagate (the suite's
    default); with propagation off, an eager task retries in place, as a worker does."""
    celery_app.conf.task_eager_propagates = False
    yield
    celery_app.conf.task_eager_propagates = True


def test_the_task_is_retried_on_transient_errors_only_with_backoff_and_time_limits():
    assert stripe_event_process.acks_late is True
    assert set(stripe_event_process.autoretry_for) == {
        StripeUnavailable,
        OperationalError,
        SoftTimeLimitExceeded,
    }
    assert stripe_event_process.retry_backoff
    assert stripe_event_process.retry_backoff_max == 600
    assert stripe_event_process.max_retries == 8
    assert stripe_event_process.soft_time_limit < stripe_event_process.time_limit


def test_a_fetch_that_fails_once_at_stripe_fails_the_first_attempt_and_the_retry_succeeds(
    workspace, customer_for, deliver, fake_stripe, retries_as_a_worker
):
    stripe = customer_for(workspace)
    _created, checkout, _paid = stripe.subscribe("pro", 5)
    path = f"/v1/subscriptions/{stripe.subscription['id']}"
    fake_stripe.fail_next(path, status=500)  # Stripe has a bad moment, once

    deliver(checkout)  # needs the subscription from Stripe: its events have not arrived

    stored = StripeEvent.objects.get(stripe_id=checkout["id"])
    assert (stored.status, stored.attempts, stored.error) == ("processed", 2, "")
    assert len(fake_stripe.requests_to(path)) == 2
    assert Subscription.objects.get(workspace=workspace).mrr_cents == 6000
    assert RevenueMovement.objects.count() == 1


def test_a_first_attempt_that_fails_is_recorded_on_the_event_before_the_retry(
    workspace, customer_for, fake_stripe, client, django_capture_on_commit_callbacks
):
    stripe = customer_for(workspace)
    _created, checkout, _paid = stripe.subscribe("pro", 5)
    fake_stripe.fail_next(f"/v1/subscriptions/{stripe.subscription['id']}", status=503)
    with django_capture_on_commit_callbacks(execute=False):
        post_event(client, checkout)
    event = StripeEvent.objects.get()

    with pytest.raises(StripeUnavailable):
        stripe_event_process.run(event.pk)  # one attempt, as a worker runs it

    event.refresh_from_db()
    assert (event.status, event.attempts) == ("pending", 1)  # transient: tried again later
    assert event.error.startswith("StripeUnavailable: ")
    assert not RevenueMovement.objects.exists()

    assert stripe_event_process.run(event.pk) == "processed"
    event.refresh_from_db()
    assert (event.status, event.attempts, event.error) == ("processed", 2, "")


def test_when_stripe_stays_down_the_event_stays_pending_and_the_requeue_finishes_it(
    workspace, customer_for, deliver, fake_stripe, retries_as_a_worker
):
    stripe = customer_for(workspace)
    _created, checkout, _paid = stripe.subscribe("pro", 5)
    path = f"/v1/subscriptions/{stripe.subscription['id']}"
    fake_stripe.fail_next(path, times=1 + stripe_event_process.max_retries)

    deliver(checkout)

    stored = StripeEvent.objects.get()
    assert stored.status == "pending"  # never lost: the periodic requeue tries again
    assert stored.attempts == 1 + stripe_event_process.max_retries
    assert "StripeUnavailable" in stored.error
    assert Subscription.objects.get(workspace=workspace).stripe_subscription_id == ""
    StripeEvent.objects.filter(pk=stored.pk).update(received_at=timezone.now() - timedelta(hours=1))

    assert stripe_events_requeue() == 1  # Stripe is back

    stored.refresh_from_db()
    assert stored.status == "processed"
    assert Subscription.objects.get(workspace=workspace).stripe_subscription_id != ""


def test_running_the_task_again_on_a_processed_event_changes_nothing(
    workspace, customer_for, deliver
):
    created, *_ = customer_for(workspace).subscribe("pro", 5)
    deliver(created)
    event = StripeEvent.objects.get()

    assert stripe_event_process.apply(args=[event.pk]).get() == "processed"
    assert stripe_event_process.apply(args=[event.pk + 1000]).get() == "missing"

    event.refresh_from_db()
    assert event.attempts == 1
    assert RevenueMovement.objects.count() == 1


def test_events_left_pending_by_a_lost_queue_message_are_queued_again(
    workspace, customer_for, client, django_capture_on_commit_callbacks
):
    stripe = customer_for(workspace)
    created, _checkout, paid = stripe.subscribe("pro", 5)
    with django_capture_on_commit_callbacks(execute=False):  # the broker lost both messages
        post_event(client, created)
        post_event(client, paid)
    StripeEvent.objects.filter(stripe_id=created["id"]).update(
        received_at=timezone.now() - timedelta(minutes=30)
    )

    with django_capture_on_commit_callbacks(execute=True):
        queued = stripe_events_requeue.apply().get()

    assert queued == 1  # the recent one may still be on its way
    assert StripeEvent.objects.get(stripe_id=created["id"]).status == "processed"
    assert StripeEvent.objects.get(stripe_id=paid["id"]).status == "pending"


def test_events_never_tried_are_queued_again_a_minute_after_they_arrived_not_ten(
    workspace, customer_for, client, settings, django_capture_on_commit_callbacks
):
    assert settings.HANDOFF_STRIPE_REQUEUE_SECONDS == 60
    assert celery_app.conf.beat_schedule["billing-stripe-events-requeue"]["schedule"] == 60
    stripe = customer_for(workspace)
    created, checkout, paid = stripe.subscribe("pro", 5)
    with django_capture_on_commit_callbacks(execute=False):  # the broker was down
        for evt in (created, checkout, paid):
            post_event(client, evt)
    two_minutes_ago = timezone.now() - timedelta(minutes=2)
    StripeEvent.objects.filter(stripe_id__in=[created["id"], checkout["id"]]).update(
        received_at=two_minutes_ago
    )
    # Tried once and still pending: its own task's retries are under way.
    StripeEvent.objects.filter(stripe_id=checkout["id"]).update(attempts=1)

    with django_capture_on_commit_callbacks(execute=True):
        queued = stripe_events_requeue.apply().get()

    assert queued == 1
    statuses = dict(StripeEvent.objects.values_list("stripe_id", "status"))
    assert statuses == {
        created["id"]: "processed",
        checkout["id"]: "pending",
        paid["id"]: "pending",
    }
