"""The offline gateway's event delivery, run by a real Celery worker: a failed delivery is
logged with where it went and what went wrong, not only with the sentence customers see.

The worker runs in a thread of this process (Celery's own test worker) on the suite's Redis,
consuming a queue of its own, so the log records reach ``caplog``.
"""

import logging
import socket
import time
import uuid

import pytest
from celery import signals
from celery.contrib.testing.worker import start_worker

from billing.models import LocalStripeObject, Price
from billing.stripe.local import LocalGateway, local_event_deliver
from config.celery_app import app as celery_app
from tests.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _closed_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _keep_logging(**kwargs) -> None:
    """A ``setup_logging`` receiver: the worker keeps this process's logging as it is."""


@pytest.fixture
def worker_queue():
    """A Celery worker in a thread, consuming a queue of its own; the queue's name."""
    queue = f"test-local-delivery-{uuid.uuid4().hex[:8]}"
    celery_app.conf.task_always_eager = False
    signals.setup_logging.connect(_keep_logging)
    try:
        with start_worker(celery_app, perform_ping_check=False, queues=[queue]):
            yield queue
    finally:
        signals.setup_logging.disconnect(_keep_logging)
        celery_app.amqp.queues.select(None)  # consume from every queue again
        with celery_app.connection_for_write() as connection:
            connection.default_channel.queue_purge(queue)  # the retries still waiting


def _pending_event() -> str:
    """Subscribes through the offline checkout; the id of the first event it emitted."""
    price = Price.objects.select_related("plan").get(
        plan__code="pro", interval="month", is_active=True
    )
    gateway = LocalGateway()
    started = gateway.checkout_start(
        workspace=WorkspaceFactory(name="Northwind"),
        price=price,
        seats=1,
        customer_id="",
        customer_email="owner@northwind.io",
        success_url="http://testserver/return/?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="http://testserver/billing/",
    )
    gateway.checkout_complete(session_id=started.session_id, card_number="4242 4242 4242 4242")
    event = LocalStripeObject.objects.filter(object="event").order_by("created", "id").first()
    return event.stripe_id


def test_a_failed_delivery_by_the_worker_logs_the_url_and_the_underlying_error(
    worker_queue, settings, caplog
):
    site = f"http://127.0.0.1:{_closed_port()}"
    settings.HANDOFF_SITE_URL = site
    event_id = _pending_event()
    caplog.set_level(logging.INFO)

    local_event_deliver.apply_async(args=[event_id], queue=worker_queue)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not any(
        "retry" in record.getMessage().lower() for record in caplog.records
    ):
        time.sleep(0.05)

    failures = [
        record.getMessage()
        for record in caplog.records
        if record.name == "billing.stripe.local.delivery" and event_id in record.getMessage()
    ]
    assert failures, [record.getMessage() for record in caplog.records]
    assert f"{site}/billing/stripe/webhook/" in failures[0]
    assert "Connection refused" in failures[0]
    assert "attempt 1 of 9" in failures[0]
    assert "Payments are unavailable" not in failures[0]
    assert LocalStripeObject.objects.get(stripe_id=event_id).data["pending_webhooks"] == 1
