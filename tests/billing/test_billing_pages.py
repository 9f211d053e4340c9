"""The billing pages: a workspace's billing page, the checkout return page, the past-due
banner on every page, the seat offer on the members page, upgrade links on the pricing
page, and the local gateway's checkout, portal, invoice and time pages."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from billing import services
from billing.entitlements import workspace_entitlements_changed
from billing.models import Invoice, LocalStripeObject, Subscription
from billing.stripe.local import LocalGateway
from tests.billing.test_flows import (
    CARD_FAILS,
    CARD_OK,
    billing_url,
    deliver,
    no_trial,
    price_of,
    subscribe,
)
from tests.factories import UserFactory, add_member

pytestmark = pytest.mark.django_db


def _options(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<option value="\d+" data-plan="(\w+)" data-interval="(\w+)"', html)


def _selected(html: str) -> tuple[str, str]:
    match = re.search(r'data-plan="(\w+)" data-interval="(\w+)" selected', html)
    assert match, "no plan selected"
    return match.groups()


@pytest.fixture
def pro(workspace):
    no_trial("pro")
    return subscribe(workspace, seats=3)


# The billing page -------------------------------------------------------------------------


def test_a_free_workspace_chooses_a_plan_interval_and_seats(owner_client, workspace, owner):
    add_member(workspace, "a@northwind.io")

    response = owner_client.get(billing_url(workspace))

    assert response.status_code == 200
    html = response.text
    assert 'data-plan="free"' in html
    assert "no card on file" in html
    assert _options(html) == [
        ("pro", "month"),
        ("pro", "year"),
        ("business", "month"),
        ("business", "year"),
    ]  # offered, self-serve, paid: no Free, no Enterprise
    assert _selected(html) == ("pro", "month")
    assert 'name="seats" id="id_seats" min="1" value="2"' in html  # the team's seats
    assert "4242 4242 4242 4242" in html  # test mode on the local gateway
    assert 'id="portal-link"' not in html
    assert 'id="no-invoices"' in html


def test_the_pricing_page_preselects_the_plan_and_interval(owner_client, workspace):
    html = owner_client.get(billing_url(workspace) + "?plan=business&interval=year").text

    assert _selected(html) == ("business", "year")


def test_a_paying_workspace_sees_price_seats_renewal_invoices_and_the_portal(
    owner_client, workspace, pro
):
    html = owner_client.get(billing_url(workspace)).text

    assert 'data-plan="pro" data-status="active" data-seats="3"' in html
    assert "$12 per seat / month" in html
    assert "$36 per month" in html
    assert "3 paid · 1 in use" in html
    assert pro.current_period_end.strftime("%b %-d, %Y") in html
    invoice = Invoice.objects.get(workspace=workspace)
    assert f'data-invoice="{invoice.stripe_id}"' in html
    assert invoice.hosted_invoice_url in html
    assert 'id="portal-link"' in html
    assert 'id="change-form"' in html
    assert 'id="cancel-form"' in html
    assert 'id="checkout-form"' not in html
    assert _selected(html) == ("pro", "month")
    switch = (
        f'href="/w/{workspace.slug}/billing/change/?price={price_of("pro", "year").pk}&amp;seats=3"'
    )
    assert switch in html  # "Switch to yearly billing" opens its preview


def test_the_billing_page_query_count_does_not_grow_with_invoices(
    owner_client, workspace, pro, django_assert_max_num_queries
):
    for _ in range(6):
        LocalGateway().clock_advance(subscription_id=pro.stripe_subscription_id)
    deliver()
    assert Invoice.objects.filter(workspace=workspace).count() == 7
    owner_client.get(billing_url(workspace))  # warm the caches

    with django_assert_max_num_queries(12):
        response = owner_client.get(billing_url(workspace))
    assert response.text.count("data-invoice=") == 7


def test_a_boosted_checkout_leaves_the_page_with_an_htmx_redirect(owner_client, workspace):
    response = owner_client.post(
        billing_url(workspace, "workspace_billing_checkout"),
        {"price": price_of("pro").pk, "seats": "1"},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 204
    assert "/billing/local/checkout/cs_local_" in response["HX-Redirect"]


def test_the_portal_needs_a_billing_account(owner_client, workspace):
    response = owner_client.post(billing_url(workspace, "workspace_billing_portal"))

    assert response.status_code == 409
    assert "no billing account yet" in response.text


def test_the_navigation_links_to_billing(owner_client, workspace):
    html = owner_client.get(reverse("workspace_members", args=[workspace.slug])).text

    assert f'href="/w/{workspace.slug}/billing/"' in html


# Back from checkout -------------------------------------------------------------------------


def test_the_return_page_polls_until_the_webhooks_have_arrived(owner_client, workspace, owner):
    url = services.checkout_start(
        workspace=workspace, price=price_of("business"), seats=1, actor=owner
    )
    session_id = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    LocalGateway().checkout_complete(session_id=session_id, card_number=CARD_OK)
    back = billing_url(workspace, "workspace_billing_return") + f"?session_id={session_id}"

    waiting = owner_client.get(back).text
    assert 'data-done="false"' in waiting
    assert "Processing…" in waiting
    assert 'hx-trigger="every 1s"' in waiting
    status = billing_url(workspace, "workspace_billing_status")
    assert f"{status}?session_id={session_id}&amp;polls=1" in waiting
    late = owner_client.get(f"{status}?session_id={session_id}&polls=60").text
    assert "taking longer than usual" in late
    assert "hx-trigger" not in late

    deliver()

    done = owner_client.get(f"{status}?session_id={session_id}&polls=3").text
    assert 'data-done="true"' in done
    assert "is on Business</strong> with 1 seat, free until" in done  # a 14-day trial
    assert "hx-trigger" not in done


# The past-due banner --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "workspace_onboarding",
        "workspace_members",
        "workspace_api_keys",
        "workspace_projects",
        "workspace_plan",
        "workspace_usage",
        "workspace_billing",
    ],
)
def test_every_page_of_a_past_due_workspace_shows_the_banner(client, workspace, member_user, name):
    no_trial("pro")
    subscription = subscribe(workspace, seats=2, card=CARD_FAILS)
    assert subscription.status == Subscription.Status.PAST_DUE
    client.force_login(workspace.created_by)

    owner_view = client.get(reverse(name, args=[workspace.slug])).text
    client.force_login(member_user)
    member_view = client.get(reverse(name, args=[workspace.slug])).text

    assert "Payment failed — fix your card" in owner_view
    assert f'action="/w/{workspace.slug}/billing/portal/"' in owner_view
    assert "Payment failed — fix your card" in member_view
    assert "Ask an owner or admin to update the card" in member_view


def test_after_the_grace_period_the_banner_says_the_free_limits_apply(owner_client, workspace):
    no_trial("pro")
    subscribe(workspace, seats=2, card=CARD_FAILS)
    Subscription.objects.filter(workspace=workspace).update(
        past_due_since=timezone.now() - timedelta(days=30)
    )
    workspace_entitlements_changed(workspace_id=workspace.pk)

    html = owner_client.get(billing_url(workspace)).text

    assert "The grace period ended on" in html
    assert "free plan's limits" in html


def test_a_healthy_workspace_shows_no_banner(owner_client, workspace, pro):
    assert 'id="past-due-banner"' not in owner_client.get(billing_url(workspace)).text


# Seats follow the team ----------------------------------------------------------------------


def test_an_invitation_refused_by_paid_seats_offers_one_more_seat(owner_client, workspace, pro):
    add_member(workspace, "a@northwind.io")
    add_member(workspace, "b@northwind.io")  # 3 of 3 seats

    response = owner_client.post(
        reverse("workspace_invite", args=[workspace.slug]), {"email": "c@x.io", "role": "member"}
    )

    assert response.status_code == 402
    offer = re.search(
        r'<a class="button" id="seat-offer" href="([^"]+)">([^<]+)</a>', response.text
    )
    assert offer, "no seat offer"
    assert offer.group(2) == "Add a seat for $12/month"
    preview_url = offer.group(1).replace("&amp;", "&")
    assert preview_url == (
        f"/w/{workspace.slug}/billing/change/?price={price_of('pro').pk}&seats=4"
    )
    preview = owner_client.get(preview_url)
    assert preview.status_code == 200
    assert 'id="confirm-form"' in preview.text
    assert "$48 per month" in preview.text


def test_the_free_plan_at_its_seat_limit_offers_an_upgrade_not_a_seat(owner_client, workspace):
    add_member(workspace, "a@northwind.io")
    add_member(workspace, "b@northwind.io")  # Free: 3 seats

    html = owner_client.get(reverse("workspace_members", args=[workspace.slug])).text

    assert 'id="paywall"' in html
    assert 'id="seat-offer"' not in html
    assert "Upgrade to Pro" in html


# The pricing page -------------------------------------------------------------------------


def test_pricing_upgrade_buttons_lead_owners_to_checkout_and_members_to_an_owner(
    client, workspace, member_user
):
    client.force_login(workspace.created_by)
    owner_html = client.get("/pricing/?interval=year").text
    client.force_login(member_user)
    member_html = client.get("/pricing/").text

    assert (
        f'href="/w/{workspace.slug}/billing/?plan=business&amp;interval=year#choose">'
        "Start the 14-day trial</a>" in owner_html
    )
    assert f'href="/w/{workspace.slug}/billing/?plan=pro&amp;interval=year#choose"' in owner_html
    assert "coming soon" not in owner_html
    assert "/billing/?plan=" not in member_html
    assert "Ask an owner or admin of Northwind to upgrade" in member_html


# The local gateway's pages ------------------------------------------------------------------


def _open_session(workspace, seats: int = 1) -> str:
    url = services.checkout_start(
        workspace=workspace, price=price_of("pro"), seats=seats, actor=workspace.created_by
    )
    return urlsplit(url).path


def test_the_local_checkout_page_shows_the_plan_the_seats_and_the_amount(owner_client, workspace):
    path = _open_session(workspace)

    html = owner_client.get(path).text

    assert "Subscribe Northwind" in html
    assert "1 seat \N{MULTIPLICATION SIGN} $12" in html
    assert "14-day free trial" in html
    assert "4242 4242 4242 4242" in html
    assert "4000 0000 0000 0341" in html


def test_a_declined_card_on_the_local_checkout_changes_nothing(owner_client, workspace):
    path = _open_session(workspace)

    response = owner_client.post(path, {"card_number": "4000 0000 0000 0002"})

    assert response.status_code == 402
    assert "Your card was declined." in response.text
    assert not LocalStripeObject.objects.filter(object="subscription").exists()
    assert Subscription.objects.get(workspace=workspace).plan.code == "free"


def test_a_paid_session_cannot_be_paid_again(owner_client, workspace):
    path = _open_session(workspace)
    owner_client.post(path, {"card_number": CARD_OK})

    again = owner_client.post(path, {"card_number": CARD_OK})

    assert again.status_code == 409
    assert "This checkout is complete." in again.text
    assert LocalStripeObject.objects.filter(object="subscription").count() == 1


def test_the_local_pages_need_a_log_in_and_a_manager_of_the_workspace(
    client, workspace, member_user
):
    path = _open_session(workspace, seats=2)

    assert client.get(path).status_code == 302  # to the log-in page
    client.force_login(member_user)
    assert client.get(path).status_code == 404


def test_the_local_pages_are_gone_when_billing_runs_on_stripe(owner_client, workspace, settings):
    path = _open_session(workspace)
    settings.STRIPE_SECRET_KEY = "sk_test_configured"

    assert owner_client.get(path).status_code == 404


def test_the_local_portal_lists_invoices_and_replaces_the_card(owner_client, workspace, pro):
    portal = owner_client.post(billing_url(workspace, "workspace_billing_portal"))
    assert portal.status_code == 302
    location = urlsplit(portal["Location"])
    assert location.path == f"/billing/local/portal/{pro.stripe_customer_id}/"
    page = owner_client.get(f"{location.path}?{location.query}")
    invoice = Invoice.objects.get(workspace=workspace)

    assert f'data-invoice="{invoice.stripe_id}"' in page.text
    assert "Visa ending in 4242" in page.text
    assert f'href="http://testserver/w/{workspace.slug}/billing/"' in page.text  # back link

    replaced = owner_client.post(
        f"{location.path}?{location.query}", {"card_number": CARD_FAILS}, follow=True
    )
    assert "Card replaced." in replaced.text
    assert "Visa ending in 0341" in replaced.text


def test_the_hosted_invoice_page_shows_the_lines(owner_client, workspace, pro):
    invoice = Invoice.objects.get(workspace=workspace)

    html = owner_client.get(urlsplit(invoice.hosted_invoice_url).path).text

    assert invoice.number in html
    assert "3 x Pro (first period)" in html
    assert "$36" in html


def test_the_time_tool_is_for_staff_only_and_advances_a_subscription(client, workspace, pro):
    client.force_login(workspace.created_by)
    assert client.get(reverse("local_clock")).status_code == 404
    staff = UserFactory(email="billing@handoff.io", is_staff=True)
    client.force_login(staff)
    page = client.get(reverse("local_clock"))
    assert f'data-subscription="{pro.stripe_subscription_id}"' in page.text

    advanced = client.post(
        reverse("local_clock"),
        {"action": "advance", "subscription": pro.stripe_subscription_id},
        follow=True,
    )

    assert "clock advanced to" in advanced.text
    assert deliver() == ["invoice.paid", "customer.subscription.updated"]
    assert Invoice.objects.filter(workspace=workspace).count() == 2


def test_editing_the_grace_period_is_seen_at_once(db):
    from billing.entitlements import catalog
    from billing.models import BillingSettings

    version = catalog().version
    settings_row = BillingSettings.load()
    settings_row.grace_period_days = 3
    settings_row.save()

    assert catalog().version != version
