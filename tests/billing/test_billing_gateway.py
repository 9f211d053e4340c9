"""Which gateway serves billing, and what happens without one.

Outside DEBUG the offline gateway only runs where offline demo billing is turned on
(``HANDOFF_DEMO_BILLING``). With no Stripe key and demo billing off there is no gateway:
every purchase is refused with "Billing is not configured" and nothing is written, the
local gateway's pages are gone and its events are not sent. While the offline gateway
serves billing every page says payments are simulated. (pytest-django runs with DEBUG off,
as production does; ``tests/test_config.py`` checks the settings and the system check in a
fresh process.)"""

from urllib.parse import urlsplit

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.models import AuditEvent
from billing.models import (
    Cancellation,
    LocalStripeObject,
    RevenueMovement,
    StripeEvent,
    Subscription,
)
from billing.stripe import local
from billing.stripe.gateway import BillingNotConfigured, gateway
from billing.tasks import stripe_reconcile
from tests.billing.test_flows import billing_url, no_trial, price_of, state, subscribe
from tests.billing.test_local_gateway import endpoint  # noqa: F401 - the recording endpoint
from tests.factories import UserFactory, add_member

pytestmark = pytest.mark.django_db

NOT_CONFIGURED = "Billing is not configured"


@pytest.fixture
def no_gateway(settings):
    """Production without a Stripe key and without demo billing; call it again to turn
    billing off after a fixture bought something through the demo gateway."""

    def turn_off():
        settings.STRIPE_SECRET_KEY = ""
        settings.HANDOFF_DEMO_BILLING = False

    assert settings.DEBUG is False
    turn_off()
    return turn_off


@pytest.fixture
def pro(workspace, settings):
    """Northwind on Pro with 3 seats, bought while demo billing served the installation."""
    settings.HANDOFF_DEMO_BILLING = True
    no_trial("pro")
    return subscribe(workspace, seats=3)


def _written() -> tuple:
    return (
        RevenueMovement.objects.count(),
        StripeEvent.objects.count(),
        LocalStripeObject.objects.count(),
        Cancellation.objects.count(),
        AuditEvent.objects.filter(action__startswith="subscription.").count(),
    )


# No gateway -------------------------------------------------------------------------------


def test_without_a_gateway_checkout_is_refused_and_nothing_is_written(
    owner_client, workspace, no_gateway
):
    before = state(workspace), _written()

    response = owner_client.post(
        billing_url(workspace, "workspace_billing_checkout"),
        {"price": price_of("business").pk, "seats": "3"},
    )

    assert response.status_code == 503
    assert NOT_CONFIGURED in response.text
    assert (state(workspace), _written()) == before
    assert Subscription.objects.get(workspace=workspace).plan.code == "free"
    assert not RevenueMovement.objects.exists()


def test_without_a_gateway_the_billing_page_says_so_and_offers_no_test_card(
    owner_client, workspace, no_gateway
):
    response = owner_client.get(billing_url(workspace))

    assert response.status_code == 200
    html = response.text
    assert 'id="billing-not-configured"' in html
    assert NOT_CONFIGURED in html
    assert 'id="checkout-form"' not in html
    assert "4242" not in html
    assert 'id="demo-billing-banner"' not in html


def test_without_a_gateway_seat_and_plan_changes_cancel_and_portal_change_nothing(
    owner_client, workspace, pro, no_gateway
):
    no_gateway()
    before = state(workspace), _written()
    change = billing_url(workspace, "workspace_billing_change")
    more_seats = {"price": price_of("pro").pk, "seats": "5"}

    preview = owner_client.get(change, more_seats)
    changed = owner_client.post(change, more_seats)
    upgraded = owner_client.post(change, {"price": price_of("business").pk, "seats": "3"})
    canceled = owner_client.post(
        billing_url(workspace, "workspace_billing_cancel"), {"reason": "too_expensive"}
    )
    portal = owner_client.post(billing_url(workspace, "workspace_billing_portal"))

    for response in (preview, changed, upgraded, canceled, portal):
        assert response.status_code == 503, response.request
        assert NOT_CONFIGURED in response.text
    assert (state(workspace), _written()) == before


def test_without_a_gateway_the_members_page_offers_no_seat_to_buy(
    owner_client, workspace, pro, no_gateway
):
    no_gateway()
    add_member(workspace, "a@northwind.io")
    add_member(workspace, "b@northwind.io")  # 3 of 3 seats paid

    html = owner_client.get(reverse("workspace_members", args=[workspace.slug])).text

    assert 'id="paywall"' in html
    assert 'id="seat-offer"' not in html


def test_without_a_gateway_the_gateway_itself_refuses(no_gateway):
    with pytest.raises(BillingNotConfigured) as refused:
        gateway()

    assert refused.value.status == 503


def test_the_local_pages_answer_404_without_demo_billing(client, workspace, pro, no_gateway):
    no_gateway()
    sessions = LocalStripeObject.objects.filter(object="checkout.session")
    customer_id = pro.stripe_customer_id
    invoice_id = LocalStripeObject.objects.filter(object="invoice").first().stripe_id
    staff = UserFactory(email="billing@handoff.io", is_staff=True)

    client.force_login(workspace.created_by)
    pages = [
        reverse("local_checkout", args=[sessions.first().stripe_id]),
        reverse("local_portal", args=[customer_id]),
        reverse("local_invoice", args=[invoice_id]),
    ]
    answers = [client.get(page).status_code for page in pages]
    card = client.post(pages[1], {"card_number": "4242 4242 4242 4242"}).status_code
    client.force_login(staff)
    clock = client.get(reverse("local_clock")).status_code

    assert answers == [404, 404, 404]
    assert card == 404
    assert clock == 404


def test_the_local_gateways_events_are_not_sent_without_demo_billing(
    workspace,
    settings,
    endpoint,  # noqa: F811
):
    settings.HANDOFF_DEMO_BILLING = True
    no_trial("pro")
    url = (
        gateway()
        .checkout_start(
            workspace=workspace,
            price=price_of("pro"),
            seats=1,
            customer_id="",
            customer_email="owner@northwind.io",
            success_url="http://testserver/ok",
            cancel_url="http://testserver/no",
        )
        .url
    )
    local.LocalGateway().checkout_complete(
        session_id=urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1],
        card_number="4242 4242 4242 4242",
    )
    pending = local.LocalGateway().events_pending()
    assert pending
    settings.HANDOFF_DEMO_BILLING = False

    sent = [local.event_deliver(event_id=event_id) for event_id in pending]

    assert sent == [False] * len(pending)
    assert endpoint.received == []
    assert local.LocalGateway().events_pending() == pending


def test_reconciliation_without_a_gateway_says_so_and_changes_nothing(workspace, no_gateway):
    with pytest.raises(CommandError, match="Billing is not configured"):
        call_command("reconcile_stripe")
    assert stripe_reconcile.delay().get() == []


# Demo billing -----------------------------------------------------------------------------


def test_demo_billing_outside_debug_sells_through_the_local_gateway_and_shows_the_banner(
    owner_client, workspace, settings
):
    assert settings.DEBUG is False
    settings.STRIPE_SECRET_KEY = ""
    settings.HANDOFF_DEMO_BILLING = True
    no_trial("pro")

    to_checkout = owner_client.post(
        billing_url(workspace, "workspace_billing_checkout"),
        {"price": price_of("pro").pk, "seats": "2"},
    )
    checkout_path = urlsplit(to_checkout["Location"]).path
    checkout_page = owner_client.get(checkout_path)
    billing_page = owner_client.get(billing_url(workspace))
    members_page = owner_client.get(reverse("workspace_members", args=[workspace.slug]))
    pricing_page = owner_client.get(reverse("pricing"))

    assert to_checkout.status_code == 302
    assert checkout_path.startswith("/billing/local/checkout/cs_local_")
    assert checkout_page.status_code == 200
    for page in (checkout_page, billing_page, members_page, pricing_page):
        assert 'id="demo-billing-banner"' in page.text
        assert "Demo installation: payments are simulated." in page.text
    assert "4242 4242 4242 4242" in billing_page.text


def test_the_embedded_default_shows_a_discreet_note_instead_of_the_banner(client, settings):
    settings.DEBUG = True
    settings.STRIPE_SECRET_KEY = ""
    settings.HANDOFF_DEMO_BILLING = True

    html = client.get(reverse("pricing")).text

    assert 'class="demo-billing discreet" id="demo-billing-banner"' in html
    assert "payments are simulated" in html
    assert "Demo installation" not in html


def test_billing_on_stripe_shows_no_demo_banner(client, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_configured"
    settings.HANDOFF_DEMO_BILLING = True  # Stripe wins

    html = client.get(reverse("pricing")).text

    assert 'id="demo-billing-banner"' not in html
