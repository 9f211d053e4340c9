"""The offline local gateway plays Stripe's part: objects and events in Stripe's shapes,
signed webhooks posted over HTTP, proration, test cards and test clocks.

Stripe's side is the gateway's own table; the webhook endpoint at the other end of the HTTP
posts is a small recording server here (the edge of the world), so these tests see exactly
what the gateway sends."""

import io
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import call_command

from billing.models import LocalStripeObject, Plan, Price, Subscription
from billing.stripe import local
from billing.stripe.client import StripeRefused, StripeUnavailable, webhook_event_verify
from billing.stripe.local import LocalGateway, add_interval, prorated
from billing.stripe.verify import ledger_verify

pytestmark = pytest.mark.django_db

# Keys every object of the kind has in Stripe's published examples (stripe/openapi
# fixtures3.json); the local gateway's objects must have at least these.
SUBSCRIPTION_KEYS = {
    "id", "object", "customer", "status", "items", "currency", "created", "start_date",
    "cancel_at", "cancel_at_period_end", "canceled_at", "cancellation_details", "ended_at",
    "trial_start", "trial_end", "latest_invoice", "metadata", "default_payment_method",
    "billing_cycle_anchor", "collection_method", "livemode", "test_clock",
}  # fmt: skip
SUBSCRIPTION_ITEM_KEYS = {
    "id", "object", "price", "plan", "quantity", "subscription", "created",
    "current_period_start", "current_period_end", "metadata",
}  # fmt: skip
PRICE_KEYS = {
    "id", "object", "active", "currency", "unit_amount", "unit_amount_decimal", "recurring",
    "product", "type", "billing_scheme", "livemode",
}  # fmt: skip
INVOICE_KEYS = {
    "id", "object", "customer", "status", "amount_due", "amount_paid", "amount_remaining",
    "currency", "hosted_invoice_url", "number", "lines", "period_start", "period_end",
    "created", "billing_reason", "parent", "subscription", "attempt_count", "attempted",
    "next_payment_attempt", "status_transitions", "subtotal", "total", "starting_balance",
    "ending_balance", "customer_email", "livemode",
}  # fmt: skip
LINE_KEYS = {
    "id", "object", "amount", "currency", "description", "invoice", "period", "quantity",
    "parent", "pricing", "subscription", "livemode",
}  # fmt: skip
SESSION_KEYS = {
    "id", "object", "mode", "status", "payment_status", "customer", "customer_email",
    "client_reference_id", "metadata", "subscription", "invoice", "success_url", "cancel_url",
    "url", "amount_total", "amount_subtotal", "currency", "created", "expires_at", "livemode",
}  # fmt: skip
EVENT_KEYS = {
    "id", "object", "api_version", "created", "data", "livemode", "pending_webhooks",
    "request", "type",
}  # fmt: skip
CUSTOMER_KEYS = {
    "id", "object", "email", "balance", "created", "invoice_settings", "metadata",
    "invoice_prefix", "next_invoice_sequence", "livemode",
}  # fmt: skip

CARD_OK = "4242 4242 4242 4242"
CARD_FAILS = "4000 0000 0000 0341"


def _price(plan: str, interval: str = "month") -> Price:
    return Price.objects.select_related("plan").get(
        plan__code=plan, interval=interval, is_active=True
    )


def _no_trial(code: str) -> None:
    plan = Plan.objects.get(code=code)
    plan.trial_days = 0
    plan.save(update_fields=["trial_days", "updated_at"])


def _events(*types: str) -> list[dict]:
    rows = LocalStripeObject.objects.filter(object="event").order_by("created", "id")
    return [row.data for row in rows if not types or row.data["type"] in types]


def _stored(stripe_id: str) -> dict:
    return LocalStripeObject.objects.get(stripe_id=stripe_id).data


def _subscribe(workspace, price: Price, seats: int, card: str = CARD_OK) -> dict:
    gateway = LocalGateway()
    started = gateway.checkout_start(
        workspace=workspace,
        price=price,
        seats=seats,
        customer_id="",
        customer_email="owner@northwind.io",
        success_url="http://testserver/w/x/billing/return/?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="http://testserver/w/x/billing/",
    )
    return gateway.checkout_complete(session_id=started.session_id, card_number=card)


def _mirror(session: dict) -> Subscription:
    """What the gateway reads of the mirror: the Stripe ids."""
    return Subscription(
        stripe_subscription_id=session["subscription"], stripe_customer_id=session["customer"]
    )


# Time and money -----------------------------------------------------------------------------


def test_an_interval_later_keeps_the_day_of_the_month_clamped_to_the_months_end():
    assert add_interval(datetime(2026, 1, 31, 9, tzinfo=UTC), "month") == datetime(
        2026, 2, 28, 9, tzinfo=UTC
    )
    assert add_interval(datetime(2028, 1, 31, tzinfo=UTC), "month").day == 29
    assert add_interval(datetime(2026, 12, 15, tzinfo=UTC), "month") == datetime(
        2027, 1, 15, tzinfo=UTC
    )
    assert add_interval(datetime(2028, 2, 29, tzinfo=UTC), "year") == datetime(
        2029, 2, 28, tzinfo=UTC
    )


def test_proration_is_pro_rata_by_seconds_left_rounded_to_the_nearest_cent():
    month = 30 * 86_400
    assert prorated(3_600, seconds_left=month * 2 // 3, seconds_in_period=month) == 2_400
    assert prorated(1_000, seconds_left=1, seconds_in_period=3) == 333
    assert prorated(1_000, seconds_left=2, seconds_in_period=3) == 667
    assert prorated(1, seconds_left=1, seconds_in_period=2) == 1  # halves round up
    assert prorated(1_200, seconds_left=-5, seconds_in_period=month) == 0
    assert prorated(1_200, seconds_left=2 * month, seconds_in_period=month) == 1_200


# Shapes -------------------------------------------------------------------------------------


def test_checkout_creates_stripe_shaped_customer_subscription_invoice_and_events(workspace):
    _no_trial("pro")
    price = _price("pro")

    session = _subscribe(workspace, price, seats=3)

    assert set(session) >= SESSION_KEYS
    assert session["object"] == "checkout.session"
    assert session["id"].startswith("cs_local_")
    assert (session["status"], session["payment_status"], session["mode"]) == (
        "complete",
        "paid",
        "subscription",
    )
    assert session["client_reference_id"] == str(workspace.pk)
    assert session["metadata"] == {"workspace_id": str(workspace.pk)}

    customer = _stored(session["customer"])
    assert set(customer) >= CUSTOMER_KEYS
    assert customer["id"].startswith("cus_local_")
    assert customer["email"] == "owner@northwind.io"
    assert customer["invoice_settings"]["default_payment_method"].startswith("pm_local_")

    subscription = _stored(session["subscription"])
    assert set(subscription) >= SUBSCRIPTION_KEYS
    assert subscription["id"].startswith("sub_local_")
    assert subscription["status"] == "active"
    assert subscription["metadata"] == {"workspace_id": str(workspace.pk)}
    item = subscription["items"]["data"][0]
    assert set(item) >= SUBSCRIPTION_ITEM_KEYS
    assert set(item["price"]) >= PRICE_KEYS
    assert item["price"]["id"] == f"price_local_{price.pk}"
    assert (item["price"]["unit_amount"], item["price"]["currency"]) == (1_200, "usd")
    assert item["price"]["recurring"]["interval"] == "month"
    assert item["quantity"] == 3
    start = datetime.fromtimestamp(item["current_period_start"], tz=UTC)
    assert item["current_period_end"] == int(add_interval(start, "month").timestamp())

    invoice = _stored(session["invoice"])
    assert set(invoice) >= INVOICE_KEYS
    assert invoice["id"].startswith("in_local_")
    assert (invoice["status"], invoice["amount_due"], invoice["amount_paid"]) == (
        "paid",
        3_600,
        3_600,
    )
    assert invoice["billing_reason"] == "subscription_create"
    assert invoice["parent"]["subscription_details"]["subscription"] == subscription["id"]
    assert invoice["parent"]["subscription_details"]["metadata"]["workspace_id"] == str(
        workspace.pk
    )
    assert invoice["hosted_invoice_url"].endswith(f"/billing/local/invoices/{invoice['id']}/")
    assert set(invoice["lines"]["data"][0]) >= LINE_KEYS

    events = _events()
    assert [e["type"] for e in events] == [
        "checkout.session.completed",
        "customer.subscription.created",
        "invoice.paid",
    ]
    for event in events:
        assert set(event) >= EVENT_KEYS
        assert event["id"].startswith("evt_local_")
        assert event["object"] == "event"
        assert event["pending_webhooks"] == 1
    assert [e["data"]["object"]["id"] for e in events] == [
        session["id"],
        subscription["id"],
        invoice["id"],
    ]


def test_a_trial_subscription_starts_trialing_with_a_zero_invoice(workspace):
    price = _price("pro")  # Pro has a 14-day trial

    session = _subscribe(workspace, price, seats=2)

    subscription = _stored(session["subscription"])
    assert subscription["status"] == "trialing"
    assert subscription["trial_end"] - subscription["trial_start"] == 14 * 86_400
    assert subscription["items"]["data"][0]["current_period_end"] == subscription["trial_end"]
    invoice = _stored(session["invoice"])
    assert (invoice["status"], invoice["amount_due"]) == ("paid", 0)
    assert session["payment_status"] == "no_payment_required"


def test_the_failing_test_card_attaches_then_the_first_payment_fails(workspace):
    _no_trial("pro")

    session = _subscribe(workspace, _price("pro"), seats=1, card=CARD_FAILS)

    subscription = _stored(session["subscription"])
    assert subscription["status"] == "past_due"
    invoice = _stored(session["invoice"])
    assert (invoice["status"], invoice["amount_paid"], invoice["attempt_count"]) == ("open", 0, 1)
    assert invoice["next_payment_attempt"] is not None
    assert [e["type"] for e in _events()] == [
        "checkout.session.completed",
        "customer.subscription.created",
        "invoice.payment_failed",
    ]


@pytest.mark.parametrize(
    ("card", "message"),
    [("4000 0000 0000 0002", "declined"), ("1234 5678 9012 3456", "Use a test card")],
)
def test_a_declined_or_unknown_card_creates_nothing(workspace, card, message):
    gateway = LocalGateway()
    started = gateway.checkout_start(
        workspace=workspace,
        price=_price("pro"),
        seats=1,
        customer_id="",
        customer_email="owner@northwind.io",
        success_url="http://testserver/ok",
        cancel_url="http://testserver/no",
    )

    with pytest.raises(StripeRefused, match=message):
        gateway.checkout_complete(session_id=started.session_id, card_number=card)

    assert _stored(started.session_id)["status"] == "open"
    assert not LocalStripeObject.objects.exclude(object="checkout.session").exists()


def test_a_completed_checkout_cannot_be_paid_again_nor_a_second_one_for_the_workspace(workspace):
    gateway = LocalGateway()
    session = _subscribe(workspace, _price("pro"), seats=1)
    second = gateway.checkout_start(
        workspace=workspace,
        price=_price("business"),
        seats=1,
        customer_id=session["customer"],
        customer_email="",
        success_url="http://testserver/ok",
        cancel_url="http://testserver/no",
    )

    with pytest.raises(StripeRefused, match="complete"):
        gateway.checkout_complete(session_id=session["id"], card_number=CARD_OK)
    with pytest.raises(StripeRefused, match="already has a subscription"):
        gateway.checkout_complete(session_id=second.session_id, card_number=CARD_OK)
    assert LocalStripeObject.objects.filter(object="subscription").count() == 1


# Webhooks over HTTP -----------------------------------------------------------------------


@dataclass
class Recorder:
    """A webhook endpoint on 127.0.0.1 that records what it is sent."""

    url: str = ""
    status: int = 200
    received: list[tuple[str, dict, bytes]] = field(default_factory=list)


@pytest.fixture
def endpoint(settings):
    recorder = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            recorder.received.append((self.path, dict(self.headers), body))
            self.send_response(recorder.status)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    settings.HANDOFF_SITE_URL = recorder.url
    yield recorder
    server.shutdown()
    server.server_close()


def test_events_are_posted_signed_to_the_webhook_endpoint_and_verify(workspace, endpoint, settings):
    _subscribe(workspace, _price("pro"), seats=1)

    for event in _events():
        assert local.event_deliver(event_id=event["id"]) is True

    assert len(endpoint.received) == 3
    for (path, headers, body), event in zip(endpoint.received, _events(), strict=True):
        assert path == "/billing/stripe/webhook/"
        assert headers["Content-Type"].startswith("application/json")
        verified = webhook_event_verify(
            body, headers["Stripe-Signature"], settings.STRIPE_WEBHOOK_SECRET
        )
        assert verified["id"] == event["id"]
        assert verified["data"]["object"] == event["data"]["object"]
        assert event["pending_webhooks"] == 0  # delivered
    with pytest.raises(Exception, match="signature"):
        webhook_event_verify(body, headers["Stripe-Signature"], "whsec_someone_else")


def test_a_delivered_event_is_not_sent_again(workspace, endpoint):
    _subscribe(workspace, _price("pro"), seats=1)
    event_id = _events()[0]["id"]

    local.event_deliver(event_id=event_id)
    local.event_deliver(event_id=event_id)

    assert len(endpoint.received) == 1


def test_delivery_is_retried_on_server_errors_and_dropped_on_refusals(workspace, endpoint):
    _subscribe(workspace, _price("pro"), seats=1)
    event_id = _events()[0]["id"]

    endpoint.status = 503
    with pytest.raises(StripeUnavailable):
        local.event_deliver(event_id=event_id)
    endpoint.status = 400
    assert local.event_deliver(event_id=event_id) is False
    assert _stored(event_id)["pending_webhooks"] == 1
    endpoint.status = 200
    assert local.event_deliver(event_id=event_id) is True
    assert _stored(event_id)["pending_webhooks"] == 0


def test_an_unreachable_endpoint_is_a_transient_failure(workspace, settings):
    settings.HANDOFF_SITE_URL = "http://127.0.0.1:9"  # discard port: nothing listens
    _subscribe(workspace, _price("pro"), seats=1)

    with pytest.raises(StripeUnavailable, match="unreachable"):
        local.event_deliver(event_id=_events()[0]["id"])


def test_events_are_delivered_by_a_task_once_the_change_commits(
    workspace, endpoint, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        _subscribe(workspace, _price("pro"), seats=1)

    assert len(callbacks) == 3
    assert [json.loads(body)["type"] for _, _, body in endpoint.received] == [
        "checkout.session.completed",
        "customer.subscription.created",
        "invoice.paid",
    ]


# Changes and proration ----------------------------------------------------------------------


@pytest.fixture
def pro_three_seats(workspace):
    """Pro monthly, 3 seats, no trial, a third of the way through the period."""
    _no_trial("pro")
    session = _subscribe(workspace, _price("pro"), seats=3)
    item = _stored(session["subscription"])["items"]["data"][0]
    start, end = item["current_period_start"], item["current_period_end"]
    LocalGateway().clock_advance(
        subscription_id=session["subscription"],
        to=datetime.fromtimestamp(start + (end - start) // 3, tz=UTC),
    )
    return session


@pytest.mark.parametrize(
    ("plan", "interval", "seats", "due_now", "next_amount"),
    [
        ("pro", "month", 4, 800, 4_800),  # one seat for the 2/3 of the month left
        ("business", "month", 3, 2_400, 7_200),  # (2,400 - 1,200) x 3 for 2/3 of the month
        ("pro", "year", 3, 33_600, 36_000),  # a whole year now, less 2/3 of the month paid
        ("pro", "month", 2, 0, 2_400),  # a credit: nothing due
    ],
)
def test_the_preview_prorates_by_the_time_left_in_the_period(
    pro_three_seats, plan, interval, seats, due_now, next_amount
):
    price = _price(plan, interval)

    preview = LocalGateway().subscription_change_preview(
        subscription=_mirror(pro_three_seats), price=price, seats=seats
    )

    assert preview.amount_due_now_cents == due_now
    assert preview.next_amount_cents == next_amount
    assert preview.currency == "usd"
    item = _stored(pro_three_seats["subscription"])["items"]["data"][0]
    if interval == "month":
        assert preview.next_billing_at.timestamp() == item["current_period_end"]
    else:  # the yearly period starts now
        assert preview.next_billing_at > datetime.now(tz=UTC) + timedelta(days=364)


def test_a_seat_increase_is_invoiced_at_once_and_emits_the_update(pro_three_seats):
    before = _stored(pro_three_seats["subscription"])

    LocalGateway().subscription_change(
        subscription=_mirror(pro_three_seats), price=_price("pro"), seats=4
    )

    after = _stored(pro_three_seats["subscription"])
    assert after["items"]["data"][0]["quantity"] == 4
    assert after["items"]["data"][0]["id"] == before["items"]["data"][0]["id"]
    updated, paid = _events("customer.subscription.updated", "invoice.paid")[-2:]
    assert updated["type"] == "customer.subscription.updated"
    assert updated["data"]["previous_attributes"]["items"]["data"][0]["quantity"] == 3
    assert updated["data"]["object"]["items"]["data"][0]["quantity"] == 4
    invoice = paid["data"]["object"]
    assert (invoice["billing_reason"], invoice["amount_paid"]) == ("subscription_update", 800)
    assert [line["amount"] for line in invoice["lines"]["data"]] == [-2_400, 3_200]
    assert after["latest_invoice"] == invoice["id"]


def test_a_credit_from_fewer_seats_comes_off_the_next_invoice(pro_three_seats):
    gateway = LocalGateway()
    gateway.subscription_change(subscription=_mirror(pro_three_seats), price=_price("pro"), seats=2)
    assert _stored(pro_three_seats["customer"])["balance"] == -800  # 2,400 credit - 1,600 charge

    gateway.clock_advance(subscription_id=pro_three_seats["subscription"])

    renewal = _events("invoice.paid")[-1]["data"]["object"]
    assert renewal["billing_reason"] == "subscription_cycle"
    assert (renewal["total"], renewal["amount_due"]) == (2_400, 1_600)
    assert _stored(pro_three_seats["customer"])["balance"] == 0


# Clocks: renewals, trials, cancellations, failed payments ---------------------------------


def test_advancing_to_the_period_end_renews_with_a_paid_invoice(pro_three_seats):
    subscription_id = pro_three_seats["subscription"]
    old_item = _stored(subscription_id)["items"]["data"][0]

    LocalGateway().clock_advance(subscription_id=subscription_id)

    item = _stored(subscription_id)["items"]["data"][0]
    assert item["current_period_start"] == old_item["current_period_end"]
    paid, updated = _events()[-2:]
    assert paid["type"] == "invoice.paid"
    assert paid["data"]["object"]["amount_paid"] == 3_600
    assert paid["request"]["id"] is None  # automatic, not an API request
    assert updated["type"] == "customer.subscription.updated"
    previous = updated["data"]["previous_attributes"]["items"]["data"][0]
    assert previous["current_period_end"] == old_item["current_period_end"]


def test_a_trial_warns_three_days_before_and_converts_at_its_end(workspace):
    session = _subscribe(workspace, _price("pro"), seats=2)

    LocalGateway().clock_advance(subscription_id=session["subscription"])

    assert [e["type"] for e in _events()][3:] == [
        "customer.subscription.trial_will_end",
        "invoice.paid",
        "customer.subscription.updated",
    ]
    updated = _events()[-1]["data"]
    assert updated["object"]["status"] == "active"
    assert updated["previous_attributes"]["status"] == "trialing"
    assert _events("invoice.paid")[-1]["data"]["object"]["amount_paid"] == 2_400


def test_a_trial_ending_on_the_failing_card_goes_past_due(workspace):
    session = _subscribe(workspace, _price("pro"), seats=1, card=CARD_FAILS)

    LocalGateway().clock_advance(subscription_id=session["subscription"])

    assert _stored(session["subscription"])["status"] == "past_due"
    assert "invoice.payment_failed" in [e["type"] for e in _events()]


def test_a_subscription_cancelled_at_period_end_ends_then(pro_three_seats):
    gateway = LocalGateway()
    mirror = _mirror(pro_three_seats)
    gateway.subscription_cancel_at_period_end(
        subscription=mirror, cancel=True, feedback="too_expensive", comment="Budget cuts"
    )
    canceling = _stored(pro_three_seats["subscription"])
    assert canceling["cancel_at_period_end"] is True
    assert canceling["cancellation_details"]["feedback"] == "too_expensive"
    assert canceling["cancel_at"] == canceling["items"]["data"][0]["current_period_end"]

    gateway.clock_advance(subscription_id=pro_three_seats["subscription"])

    deleted = _events()[-1]
    assert deleted["type"] == "customer.subscription.deleted"
    assert deleted["data"]["object"]["status"] == "canceled"
    assert deleted["data"]["object"]["ended_at"] == canceling["cancel_at"]
    assert not _events("invoice.paid")[1:]  # no renewal


def test_resuming_clears_the_cancellation(pro_three_seats):
    gateway = LocalGateway()
    mirror = _mirror(pro_three_seats)
    gateway.subscription_cancel_at_period_end(
        subscription=mirror, cancel=True, feedback="unused", comment=""
    )

    gateway.subscription_cancel_at_period_end(
        subscription=mirror, cancel=False, feedback="", comment=""
    )

    data = _stored(pro_three_seats["subscription"])
    assert (data["cancel_at_period_end"], data["cancel_at"], data["canceled_at"]) == (
        False,
        None,
        None,
    )
    resumed = _events("customer.subscription.updated")[-1]["data"]
    assert resumed["previous_attributes"]["cancel_at_period_end"] is True


def test_a_new_card_in_the_portal_pays_the_open_invoice_and_the_subscription_recovers(workspace):
    _no_trial("pro")
    session = _subscribe(workspace, _price("pro"), seats=1, card=CARD_FAILS)

    sent = LocalGateway().card_replace(customer_id=session["customer"], card_number=CARD_OK)

    assert sent == ["invoice.paid", "customer.subscription.updated"]
    assert _stored(session["invoice"])["status"] == "paid"
    assert _stored(session["subscription"])["status"] == "active"
    assert _events()[-1]["data"]["previous_attributes"] == {"status": "past_due"}


# Listing for reconciliation -----------------------------------------------------------------


def test_events_since_and_subscriptions_list_what_stripe_would(workspace, other_workspace):
    first = _subscribe(workspace, _price("pro"), seats=1)
    cutoff = int(_stored(first["id"])["created"])
    _subscribe(other_workspace, _price("business"), seats=1)
    gateway = LocalGateway()

    paid = list(gateway.events_since(created_gte=cutoff, types=["invoice.paid"]))
    everything = list(gateway.events_since(created_gte=cutoff, types=[]))

    assert len(paid) == 2
    assert {e["type"] for e in paid} == {"invoice.paid"}
    assert len(everything) == 6
    assert everything[0]["created"] >= everything[-1]["created"]  # newest first
    assert list(gateway.events_since(created_gte=cutoff + 3_600, types=[])) == []
    assert {s["metadata"]["workspace_id"] for s in gateway.subscriptions()} == {
        str(workspace.pk),
        str(other_workspace.pk),
    }
    assert gateway.subscription_retrieve(first["subscription"])["id"] == first["subscription"]
    with pytest.raises(StripeRefused, match="No such subscription"):
        gateway.subscription_retrieve("sub_local_missing")


def test_reconciliation_pages_through_the_local_gateway_as_through_stripe(
    workspace, other_workspace, settings
):
    settings.STRIPE_SECRET_KEY, settings.HANDOFF_DEMO_BILLING = "", True  # the embedded default
    _no_trial("pro")
    first = _subscribe(workspace, _price("pro"), seats=2)  # its webhooks never delivered
    _subscribe(other_workspace, _price("business"), seats=1)
    template = _stored(first["subscription"])
    oldest = LocalStripeObject.objects.get(stripe_id=first["subscription"]).created
    LocalStripeObject.objects.bulk_create(  # ended subscriptions of customers gone long ago
        LocalStripeObject(
            stripe_id=f"sub_local_gone{n:03d}",
            object="subscription",
            data=template | {"id": f"sub_local_gone{n:03d}", "status": "canceled", "metadata": {}},
            created=oldest - timedelta(days=40, seconds=n % 7),
        )
        for n in range(150)
    )
    gateway = LocalGateway()
    seen, after, pages = [], "", 0
    while True:
        data, more = gateway.subscriptions_page(starting_after=after)
        pages += 1
        seen += [subscription["id"] for subscription in data]
        if not more:
            break
        after = data[-1]["id"]

    assert (pages, len(seen)) == (2, 152)
    assert seen == [subscription["id"] for subscription in gateway.subscriptions()]
    events, more = gateway.events_page(created_gte=0, types=[])
    assert (events, more) == (list(gateway.events_since(created_gte=0, types=[])), False)

    lines = io.StringIO()
    call_command("reconcile_stripe", stdout=lines)

    assert any(line.startswith("recovered ") for line in lines.getvalue().splitlines())
    mirror = Subscription.objects.select_related("plan").get(workspace=workspace)
    assert (mirror.plan.code, mirror.seats, mirror.status, mirror.mrr_cents) == (
        "pro",
        2,
        "active",
        2 * _price("pro").amount_cents,
    )
    call_command("reconcile_stripe", stdout=(again := io.StringIO()))
    assert again.getvalue().splitlines() == ["nothing to repair"]
    assert ledger_verify() == []


def test_events_of_one_simulated_second_sort_by_id_in_the_order_they_were_created():
    """The ledger orders the states of one second by event id; a clock advance creates a
    whole billing cycle's events in one simulated second."""
    from billing.stripe.local.shapes import _event_object

    moment = datetime(2025, 3, 1, 12, tzinfo=UTC)
    events = [
        _event_object(
            event_type="customer.subscription.updated",
            obj={"id": "sub_local_x", "n": n},
            previous=None,
            automatic=True,
            created=moment,
        )
        for n in range(200)
    ]

    assert len({event["created"] for event in events}) == 1
    assert [event["data"]["object"]["n"] for event in sorted(events, key=lambda e: e["id"])] == [
        *range(200)
    ]
    assert all(len(event["id"]) == len("evt_local_") + 24 for event in events)
