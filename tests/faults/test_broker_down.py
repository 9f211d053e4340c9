"""The Celery broker (Redis) down while Stripe webhooks arrive: every verified event is
stored before its 2xx, and processed soon after the broker is back (beat queues again the
events whose queue message could not be sent); the ledger then agrees with the events."""

import pytest
from django.core.management import call_command

from billing.models import Plan, Price, RevenueMovement, StripeEvent, Subscription
from tests.billing.stripe.fake_stripe import FakeStripe
from tests.billing.stripe.payloads import StripeCustomer, body_of
from tests.factories import UserFactory, WorkspaceFactory
from tests.faults.clients import post_webhook
from tests.faults.servers import wait_for

# The requeue waits this long for a never-tried event and beat runs it as often (a minute in
# production; compressed here).
REQUEUE_SECONDS = "3"


@pytest.fixture
def fake_stripe():
    """Stripe's API, for the fetches processing may make (the edge of the world)."""
    server = FakeStripe().start()
    yield server
    server.stop()


def _stripe_prices(fake: FakeStripe) -> dict[str, tuple[str, int]]:
    """The catalog's monthly prices connected to prices the fake Stripe holds."""
    prices = {}
    for price in Price.objects.filter(is_active=True, interval="month").select_related("plan"):
        key = price.plan.code
        fake.put_price(
            f"price_{key}",
            unit_amount=price.amount_cents,
            currency=price.currency,
            interval=price.interval,
            product=f"handoff_{key}",
        )
        price.stripe_price_id = f"price_{key}"
        price.save(update_fields=["stripe_price_id"])
        prices[key] = (price.stripe_price_id, price.amount_cents)
    return prices


def test_webhooks_while_the_broker_is_down_are_stored_before_2xx_and_processed_after(
    servers, redis_server, fake_stripe
):
    prices = _stripe_prices(fake_stripe)
    customers = []
    for n in range(3):
        owner = UserFactory(email=f"owner@broker{n}.io")
        workspace = WorkspaceFactory(name=f"Broker {n}", created_by=owner)
        customers.append(StripeCustomer(workspace_id=workspace.pk, prices=prices, fake=fake_stripe))
    events = []
    for customer in customers:
        events += customer.subscribe("pro", 3)
        events.append(customer.update(seats=5))
    events.append(customers[0].cancel())
    stripe = {
        "STRIPE_SECRET_KEY": "sk_test_fake",
        "STRIPE_API_BASE": fake_stripe.base_url,
        "HANDOFF_STRIPE_REQUEUE_SECONDS": REQUEUE_SECONDS,
    }
    web = servers.gunicorn(wait=False, **stripe)
    worker = servers.worker(wait=False, **stripe)
    servers.beat(**stripe)
    web.wait_ready()
    worker.wait_ready()

    redis_server.stop()
    for evt in [*events, events[1], events[-2]]:  # two delivered twice
        answer = post_webhook(web, body_of(evt))
        assert answer.status == 200, answer.body
        assert StripeEvent.objects.filter(stripe_id=evt["id"]).exists()
    assert StripeEvent.objects.filter(status="pending").count() == len(events)
    redis_server.start()

    wait_for(
        lambda: not StripeEvent.objects.filter(status="pending").exists(),
        timeout=120,
        what=f"the events to be processed:\n{servers.logs_text()}",
    )
    statuses = set(StripeEvent.objects.values_list("status", flat=True))
    assert statuses <= {"processed", "skipped"}, list(StripeEvent.objects.values("type", "error"))
    assert StripeEvent.objects.count() == len(events)
    call_command("ledger_verify")  # raises CommandError on any difference
    pro = Plan.objects.get(code="pro")
    subscriptions = Subscription.objects.filter(
        workspace_id__in=[c.workspace_id for c in customers]
    ).order_by("workspace_id")
    assert [(s.plan_id == pro.pk, s.seats, s.status) for s in subscriptions] == [
        (False, 0, "canceled"),  # back on the free plan
        (True, 5, "active"),
        (True, 5, "active"),
    ]
    assert RevenueMovement.objects.filter(workspace_id=customers[0].workspace_id).count() >= 2
