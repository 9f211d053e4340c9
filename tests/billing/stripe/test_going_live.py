"""``stripe_sync_catalog`` connects the catalog to Stripe, idempotently; ``stripe_check``
finds each kind of thing a live installation would miss. Both run against the fake Stripe
HTTP server, which checks every request against the SDK's parameter types."""

import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from accounts.models import AuditEvent
from billing.models import Plan, Price
from billing.stripe.client import API_VERSION
from billing.stripe.handlers import HANDLED_TYPES

pytestmark = pytest.mark.django_db

SITE = "https://handoff.example.com"
WEBHOOK_URL = f"{SITE}/billing/stripe/webhook/"


def run(command: str) -> tuple[bool, list[str]]:
    """Run a command: (succeeded, the lines it printed and the error it ended with)."""
    out = StringIO()
    try:
        call_command(command, stdout=out)
    except CommandError as exc:
        return False, [*out.getvalue().splitlines(), f"CommandError: {exc}"]
    return True, out.getvalue().splitlines()


def catalog() -> list[Price]:
    return list(Price.objects.filter(is_active=True).select_related("plan"))


def price(plan: str, interval: str = "month") -> Price:
    return Price.objects.get(plan__code=plan, interval=interval, is_active=True)


def posts(fake_stripe) -> list[str]:
    return [r.path for r in fake_stripe.requests if r.method == "POST"]


# stripe_sync_catalog ------------------------------------------------------------------------


def test_sync_creates_a_product_per_plan_and_a_price_per_catalog_price_and_connects_them(
    fake_stripe,
):
    ok, lines = run("stripe_sync_catalog")

    assert ok, lines
    assert set(fake_stripe.products) == {"handoff_pro", "handoff_business"}
    for row in catalog():
        remote = fake_stripe.prices[row.stripe_price_id]
        assert remote["lookup_key"] == f"handoff_{row.plan.code}_{row.interval}_usd"
        assert (remote["unit_amount"], remote["currency"]) == (row.amount_cents, row.currency)
        assert remote["recurring"]["interval"] == row.interval
        assert remote["product"] == f"handoff_{row.plan.code}"
        assert remote["metadata"]["handoff_price_id"] == str(row.pk)
    assert len(fake_stripe.prices) == len(catalog()) == 4
    assert sum("created and connected" in line for line in lines) == 4
    assert AuditEvent.objects.filter(action=AuditEvent.Action.PLAN_CHANGED).count() == 4


def test_a_second_sync_creates_nothing(fake_stripe):
    run("stripe_sync_catalog")
    connected = {row.pk: row.stripe_price_id for row in catalog()}
    fake_stripe.requests.clear()

    ok, lines = run("stripe_sync_catalog")

    assert ok, lines
    assert posts(fake_stripe) == []
    assert {row.pk: row.stripe_price_id for row in catalog()} == connected
    assert all(line.startswith("ok: ") and "connected to" in line for line in lines)


def test_sync_connects_a_stripe_price_found_by_its_lookup_key(fake_stripe):
    existing = fake_stripe.put_price(
        unit_amount=1200, interval="month", lookup_key="handoff_pro_month_usd"
    )

    ok, lines = run("stripe_sync_catalog")

    assert ok, lines
    assert price("pro").stripe_price_id == existing["id"]
    assert f"ok: Pro monthly USD: connected {existing['id']}, found by its lookup key" in lines
    assert len(fake_stripe.prices) == 4  # three created, one found


def test_sync_reports_a_stripe_price_that_disagrees_and_never_reuses_it(fake_stripe):
    wrong_amount = fake_stripe.put_price(
        unit_amount=1500, interval="month", lookup_key="handoff_pro_month_usd"
    )
    wrong_interval = fake_stripe.put_price(
        unit_amount=2400, interval="year", lookup_key="handoff_business_month_usd"
    )

    ok, lines = run("stripe_sync_catalog")

    assert not ok
    report = "\n".join(lines)
    assert f"the Stripe price {wrong_amount['id']}" in report
    assert "charges $15 per unit, the catalog $12" in report
    assert f"the Stripe price {wrong_interval['id']}" in report
    assert "bills every year, the catalog every month" in report
    assert "2 price(s) are not connected" in report
    assert (price("pro").stripe_price_id, price("business").stripe_price_id) == ("", "")
    assert price("pro", "year").stripe_price_id  # the others are connected all the same
    assert fake_stripe.prices[wrong_amount["id"]]["lookup_key"] == "handoff_pro_month_usd"


def test_a_replaced_catalog_price_gets_a_new_stripe_price_that_takes_the_lookup_key_over(
    fake_stripe,
):
    run("stripe_sync_catalog")
    old = price("pro")
    old.is_active = False
    old.save(update_fields=["is_active"])
    new = Price.objects.create(plan=old.plan, interval="month", amount_cents=1500, currency="usd")

    ok, lines = run("stripe_sync_catalog")

    new.refresh_from_db()
    assert ok, lines
    assert new.stripe_price_id not in ("", old.stripe_price_id)
    assert fake_stripe.prices[new.stripe_price_id]["unit_amount"] == 1500
    assert fake_stripe.prices[new.stripe_price_id]["lookup_key"] == "handoff_pro_month_usd"
    assert fake_stripe.prices[old.stripe_price_id]["lookup_key"] is None


def test_sync_without_a_stripe_key_says_there_is_nothing_to_connect(fake_stripe, settings):
    settings.STRIPE_SECRET_KEY = ""

    ok, lines = run("stripe_sync_catalog")

    assert ok
    assert "STRIPE_SECRET_KEY is not set" in lines[0]
    assert fake_stripe.requests == []


def test_what_sync_connected_can_be_bought(owner_client, workspace, fake_stripe):
    run("stripe_sync_catalog")

    response = owner_client.post(
        f"/w/{workspace.slug}/billing/checkout/", {"price": price("pro").pk, "seats": 1}
    )

    assert response.status_code == 302
    (session,) = fake_stripe.requests_to("/v1/checkout/sessions")
    assert session.params["line_items"] == [
        {"price": price("pro").stripe_price_id, "quantity": "1"}
    ]


# stripe_check -------------------------------------------------------------------------------


@pytest.fixture
def live(fake_stripe, settings):
    """Everything going live needs, in place: the catalog connected, the webhook endpoint,
    the Customer Portal."""
    settings.HANDOFF_SITE_URL = SITE
    assert run("stripe_sync_catalog")[0]
    fake_stripe.put_webhook_endpoint(
        WEBHOOK_URL, api_version=API_VERSION, enabled_events=list(HANDLED_TYPES)
    )
    fake_stripe.put_portal_configuration()
    return fake_stripe


def problems(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("PROBLEM")]


def test_check_passes_when_everything_is_in_place_and_changes_nothing(live):
    live.requests.clear()

    ok, lines = run("stripe_check")

    assert ok, lines
    assert problems(lines) == []
    assert lines[-1] == "Stripe is ready: nothing is missing."
    assert len(lines) == 1 + 4 + 1 + 1  # the endpoint, four prices, the portal, the verdict
    assert posts(live) == []


def test_check_finds_no_webhook_endpoint_for_this_site(live):
    endpoint = live.webhook_endpoints[0]
    endpoint["url"] = "https://old.example.com/billing/stripe/webhook/"

    ok, lines = run("stripe_check")

    assert not ok
    (problem,) = problems(lines)
    assert f"no webhook endpoint sends to {WEBHOOK_URL}" in problem
    assert "old.example.com" in problem
    assert API_VERSION in problem


def test_check_finds_a_webhook_endpoint_of_another_api_version(live):
    live.webhook_endpoints[0]["api_version"] = "2025-01-27.acacia"

    ok, lines = run("stripe_check")

    assert not ok
    (problem,) = problems(lines)
    assert "uses API version 2025-01-27.acacia" in problem
    assert f"create the endpoint with {API_VERSION}" in problem


def test_check_finds_a_webhook_endpoint_on_the_accounts_default_version(live):
    live.webhook_endpoints[0]["api_version"] = None

    ok, lines = run("stripe_check")

    assert not ok
    assert "of the account (none set)" in problems(lines)[0]


def test_check_lists_the_event_types_the_endpoint_does_not_send(live):
    live.webhook_endpoints[0]["enabled_events"] = [
        t
        for t in HANDLED_TYPES
        if t not in ("invoice.payment_failed", "checkout.session.completed")
    ]

    ok, lines = run("stripe_check")

    assert not ok
    (problem,) = problems(lines)
    assert "does not send checkout.session.completed, invoice.payment_failed" in problem


def test_check_accepts_an_endpoint_that_sends_every_event(live):
    live.webhook_endpoints[0]["enabled_events"] = ["*"]

    ok, lines = run("stripe_check")

    assert ok, lines


def test_check_finds_a_disabled_webhook_endpoint(live):
    live.webhook_endpoints[0]["status"] = "disabled"

    ok, lines = run("stripe_check")

    assert not ok
    assert "is disabled: enable it" in problems(lines)[0]


def test_check_finds_two_webhook_endpoints_for_this_site(live):
    live.put_webhook_endpoint(
        WEBHOOK_URL, api_version=API_VERSION, enabled_events=list(HANDLED_TYPES)
    )

    ok, lines = run("stripe_check")

    assert not ok
    assert "2 webhook endpoints send to" in problems(lines)[0]


def test_check_finds_a_catalog_price_not_connected(live):
    row = price("business", "year")
    row.stripe_price_id = ""
    row.save(update_fields=["stripe_price_id"])

    ok, lines = run("stripe_check")

    assert not ok
    (problem,) = problems(lines)
    assert "Business yearly USD is not connected to a Stripe price" in problem
    assert "stripe_sync_catalog" in problem


def test_check_finds_a_stripe_price_that_disagrees_with_the_catalog(live):
    remote = live.prices[price("pro").stripe_price_id]
    remote.update(unit_amount=1300, currency="eur")

    ok, lines = run("stripe_check")

    assert not ok
    (problem,) = problems(lines)
    assert f"Pro monthly USD: its Stripe price {remote['id']}" in problem
    assert "is in EUR, the catalog price in USD" in problem
    assert "charges €13 per unit" in problem


def test_check_finds_a_stripe_price_stripe_does_not_have(live):
    del live.prices[price("pro", "year").stripe_price_id]

    ok, lines = run("stripe_check")

    assert not ok
    assert "Pro yearly USD: Stripe has no price" in problems(lines)[0]


def test_check_finds_the_customer_portal_not_configured(live):
    live.portal_configurations.clear()

    ok, lines = run("stripe_check")

    assert not ok
    (problem,) = problems(lines)
    assert "the Customer Portal is not configured" in problem


def test_check_finds_a_customer_portal_that_cannot_update_the_card(live):
    live.portal_configurations[0]["features"]["payment_method_update"]["enabled"] = False

    ok, lines = run("stripe_check")

    assert not ok
    assert "does not offer updating the payment method" in problems(lines)[0]


def test_check_without_a_stripe_key_says_there_is_nothing_to_check(fake_stripe, settings):
    settings.STRIPE_SECRET_KEY = ""

    ok, lines = run("stripe_check")

    assert ok
    assert lines == [
        "STRIPE_SECRET_KEY is not set: billing runs on the offline gateway or is not "
        "configured, so there is nothing to check at Stripe."
    ]
    assert fake_stripe.requests == []


def test_check_when_stripe_cannot_be_reached_says_so(live):
    live.fail_next("/v1/webhook_endpoints", status=503)

    ok, lines = run("stripe_check")

    assert not ok
    assert "Stripe cannot be reached" in lines[-1]


def test_an_archived_plan_needs_no_stripe_price(live):
    Plan.objects.filter(code="business").update(status=Plan.Status.ARCHIVED)
    Price.objects.filter(plan__code="business").update(stripe_price_id="")

    ok, lines = run("stripe_check")

    assert ok, lines


def test_the_readme_creates_the_endpoint_with_the_pinned_version_and_every_handled_event():
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    going_live = readme.split("### Going live on Stripe", 1)[1].split("\n### ", 1)[0]

    assert f"-d api_version={API_VERSION}" in going_live
    listed = set(re.findall(r'"enabled_events\[\]=([a-z_.]+)"', going_live))
    assert listed == set(HANDLED_TYPES)
