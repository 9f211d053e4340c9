"""The self-serve billing flows on the local gateway: checkout, previews with proration,
seat and plan changes, cancel and resume, refusals, and the whole upgrade end to end.

The mirror changes only through the real webhook endpoint. The end-to-end tests run a live
server and let the local gateway post its signed events over HTTP, as Stripe would; the
others post the same signed events to the endpoint in process (``deliver``), which keeps
them inside one test transaction."""

import html
import io
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client, TestCase
from django.urls import reverse

from accounts import services as accounts_services
from accounts.errors import Conflict, PermissionDenied
from accounts.models import AuditEvent, Project
from billing import services
from billing.entitlements import workspace_entitlements
from billing.limits import limit_check
from billing.models import (
    BillingSettings,
    Cancellation,
    Invoice,
    LocalStripeObject,
    Plan,
    Price,
    RevenueMovement,
    StripeEvent,
    Subscription,
)
from billing.stripe import local
from billing.stripe.local import LocalGateway
from billing.stripe.signing import signature_header
from tests.billing.conftest import ledger_violations
from tests.factories import UserFactory, WorkspaceFactory, add_member

pytestmark = pytest.mark.django_db

CARD_OK = "4242 4242 4242 4242"
CARD_FAILS = "4000 0000 0000 0341"


# Helpers ----------------------------------------------------------------------------------


def deliver() -> list[str]:
    """Post the local gateway's undelivered events, signed, to the webhook endpoint in
    process (what ``billing.stripe.local.delivery`` does over HTTP), processing them as the
    endpoint's task would once its transaction commits. Returns the event types delivered."""
    webhook = Client()
    delivered = []
    for event_id in LocalGateway().events_pending():
        body = local.event_body(event_id)
        with TestCase.captureOnCommitCallbacks(execute=True):
            response = webhook.post(
                reverse("stripe_webhook"),
                body,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=signature_header(body, settings.STRIPE_WEBHOOK_SECRET),
            )
        assert response.status_code == 200, response.content
        local.event_delivered(event_id)
        delivered.append(StripeEvent.objects.get(stripe_id=event_id).type)
    return delivered


def price_of(plan: str, interval: str = "month", currency: str = "usd") -> Price:
    return Price.objects.select_related("plan").get(
        plan__code=plan, interval=interval, currency=currency, is_active=True
    )


def no_trial(code: str) -> None:
    plan = Plan.objects.get(code=code)
    plan.trial_days = 0
    plan.save(update_fields=["trial_days", "updated_at"])


def subscribe(workspace, *, plan="pro", interval="month", seats=3, card=CARD_OK) -> Subscription:
    """A paid subscription through the real flow: checkout, the local checkout page's
    payment, and the webhooks."""
    url = services.checkout_start(
        workspace=workspace,
        price=price_of(plan, interval),
        seats=seats,
        actor=workspace.created_by,
    )
    session_id = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    LocalGateway().checkout_complete(session_id=session_id, card_number=card)
    deliver()
    return Subscription.objects.select_related("plan", "price").get(workspace=workspace)


def into_period(subscription: Subscription, fraction: tuple[int, int] = (1, 3)) -> None:
    """Move the customer's clock ``fraction`` of the way through the current period."""
    item = LocalGateway().subscription_retrieve(subscription.stripe_subscription_id)["items"][
        "data"
    ][0]
    start, end = item["current_period_start"], item["current_period_end"]
    LocalGateway().clock_advance(
        subscription_id=subscription.stripe_subscription_id,
        to=datetime.fromtimestamp(start + (end - start) * fraction[0] // fraction[1], tz=UTC),
    )


def local_subscription(subscription: Subscription) -> dict:
    return LocalGateway().subscription_retrieve(subscription.stripe_subscription_id)


def billing_url(workspace, name: str = "workspace_billing") -> str:
    return reverse(name, kwargs={"workspace_slug": workspace.slug})


def state(workspace) -> tuple:
    """Everything a refused change must leave as it was."""
    return (
        list(
            Subscription.objects.filter(workspace=workspace).values_list(
                "plan__code", "price_id", "seats", "status", "cancel_at_period_end"
            )
        ),
        sorted(
            (row.stripe_id, row.data.get("status"), str(row.data.get("items", "")))
            for row in LocalStripeObject.objects.exclude(object="event")
        ),
        LocalStripeObject.objects.filter(object="event").count(),
        Cancellation.objects.count(),
        AuditEvent.objects.filter(action__startswith="subscription.").count(),
    )


@pytest.fixture
def pro(workspace, admin_user):
    """Northwind on Pro monthly with 3 seats (owner + admin = 2 members), no trial, a third
    of the way through the month."""
    no_trial("pro")
    no_trial("business")
    subscription = subscribe(workspace, seats=3)
    into_period(subscription)
    return subscription


# The whole upgrade, end to end over HTTP --------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_self_serve_upgrade_end_to_end_over_http_through_the_local_gateway(
    client, live_server, settings
):
    settings.HANDOFF_SITE_URL = live_server.url  # the gateway posts its webhooks here
    owner = UserFactory(email="founder@initech.io")
    workspace = WorkspaceFactory(name="Initech", created_by=owner)
    for n in range(3):
        accounts_services.project_create(workspace=workspace, name=f"P{n}", actor=owner)
    assert not limit_check(workspace, "projects", 1).allowed  # Free: 3 projects
    no_trial("pro")
    pro_monthly = price_of("pro")
    client.force_login(owner)

    page = client.get(billing_url(workspace))
    assert page.status_code == 200
    assert 'id="checkout-form"' in page.text
    to_checkout = client.post(
        billing_url(workspace, "workspace_billing_checkout"),
        {"price": pro_monthly.pk, "seats": "3"},
    )
    assert to_checkout.status_code == 302
    checkout_path = urlsplit(to_checkout["Location"]).path
    assert checkout_path.startswith("/billing/local/checkout/cs_local_")
    checkout_page = client.get(checkout_path)
    assert checkout_page.status_code == 200
    assert "$36" in checkout_page.text

    paid = client.post(checkout_path, {"card_number": CARD_OK})

    assert paid.status_code == 302
    back = urlsplit(paid["Location"])
    assert back.path == billing_url(workspace, "workspace_billing_return")
    assert "session_id=cs_local_" in back.query
    returned = client.get(f"{back.path}?{back.query}")
    assert 'data-done="true"' in returned.text
    assert "Initech is on Pro</strong> with 3 seats" in returned.text
    subscription = Subscription.objects.select_related("plan", "price").get(workspace=workspace)
    assert (subscription.plan.code, subscription.seats, subscription.status) == (
        "pro",
        3,
        Subscription.Status.ACTIVE,
    )
    assert subscription.price == pro_monthly
    assert subscription.stripe_subscription_id.startswith("sub_local_")
    assert limit_check(workspace, "projects", 1).allowed  # limits lifted: Pro allows 50
    assert limit_check(workspace, "seats", 1).limit == 3  # seats paid
    invoice = Invoice.objects.get(workspace=workspace)
    assert (invoice.status, invoice.amount_paid_cents) == ("paid", 3_600)
    assert invoice.stripe_id in client.get(billing_url(workspace)).text
    movement = RevenueMovement.objects.get(workspace=workspace)
    assert (movement.kind, movement.mrr_delta_cents) == (RevenueMovement.Kind.NEW, 3_600)
    assert set(StripeEvent.objects.values_list("type", "status")) == {
        ("checkout.session.completed", "processed"),
        ("customer.subscription.created", "processed"),
        ("invoice.paid", "processed"),
    }
    assert LocalGateway().events_pending() == []  # every event reached the endpoint
    assert ledger_violations() == []


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_failed_payment_shows_the_banner_keeps_limits_for_the_grace_period_then_not(
    client, live_server, settings
):
    settings.HANDOFF_SITE_URL = live_server.url
    owner = UserFactory(email="founder@initech.io")
    workspace = WorkspaceFactory(name="Initech", created_by=owner)
    no_trial("pro")
    client.force_login(owner)
    to_checkout = client.post(
        billing_url(workspace, "workspace_billing_checkout"),
        {"price": price_of("pro").pk, "seats": "2"},
    )
    checkout_path = urlsplit(to_checkout["Location"]).path

    client.post(checkout_path, {"card_number": CARD_FAILS})

    subscription = Subscription.objects.get(workspace=workspace)
    assert subscription.status == Subscription.Status.PAST_DUE
    assert subscription.past_due_since is not None
    members = client.get(reverse("workspace_members", kwargs={"workspace_slug": workspace.slug}))
    assert 'id="past-due-banner"' in members.text
    assert "Payment failed — fix your card" in members.text
    grace = timedelta(days=BillingSettings.load().grace_period_days)
    deadline = subscription.past_due_since + grace
    assert deadline.strftime("%b %-d, %Y") in members.text
    within = workspace_entitlements(workspace_id=workspace.pk, now=deadline - timedelta(hours=1))
    assert (within.plan.code, within.limit("projects").limit) == ("pro", 50)
    assert within.valid_until == deadline  # the cached answer flips on time
    after = workspace_entitlements(workspace_id=workspace.pk, now=deadline + timedelta(seconds=1))
    assert (after.plan.code, after.limit("projects").limit, after.grace_expired) == (
        "free",
        3,
        True,
    )

    # The card is replaced in the portal: the invoice is paid and the subscription recovers.
    portal = client.post(billing_url(workspace, "workspace_billing_portal"))
    portal_url = urlsplit(portal["Location"])
    client.post(f"{portal_url.path}?{portal_url.query}", {"card_number": CARD_OK})

    subscription.refresh_from_db()
    assert (subscription.status, subscription.past_due_since) == ("active", None)
    assert Invoice.objects.get(workspace=workspace).status == "paid"
    assert 'id="past-due-banner"' not in client.get(billing_url(workspace)).text


# Checkout ---------------------------------------------------------------------------------


def test_checkout_start_sends_the_owner_to_the_local_checkout_page(workspace, owner):
    url = services.checkout_start(workspace=workspace, price=price_of("pro"), seats=2, actor=owner)

    assert url.startswith(settings.HANDOFF_SITE_URL + "/billing/local/checkout/cs_local_")
    session = LocalStripeObject.objects.get(object="checkout.session").data
    assert session["client_reference_id"] == str(workspace.pk)
    assert session["customer_email"] == owner.email
    assert session["success_url"].endswith(
        f"/w/{workspace.slug}/billing/return/?session_id={{CHECKOUT_SESSION_ID}}"
    )


def test_a_trial_is_on_the_plan_at_once_and_counts_revenue_when_it_converts(workspace):
    subscription = subscribe(workspace, seats=2)  # Pro: 14-day trial
    assert (subscription.plan.code, subscription.status) == ("pro", "trialing")
    assert not RevenueMovement.objects.exists()  # a trial is not revenue yet

    LocalGateway().clock_advance(subscription_id=subscription.stripe_subscription_id)
    assert deliver() == [
        "customer.subscription.trial_will_end",
        "invoice.paid",
        "customer.subscription.updated",
    ]

    subscription.refresh_from_db()
    assert subscription.status == "active"
    movement = RevenueMovement.objects.get(workspace=workspace)
    assert (movement.kind, movement.mrr_delta_cents) == ("new", 2_400)


def test_checkout_asks_for_at_least_the_seats_the_team_holds(owner_client, workspace, owner):
    add_member(workspace, "a@northwind.io")
    accounts_services.invitation_create(workspace=workspace, email="b@northwind.io", actor=owner)
    before = state(workspace)

    response = owner_client.post(
        billing_url(workspace, "workspace_billing_checkout"),
        {"price": price_of("pro").pk, "seats": "2"},
    )

    assert response.status_code == 400
    assert "holds 3 seats (2 members and 1 pending invitation): buy at least 3" in response.text
    assert state(workspace) == before


@pytest.fixture
def odd_prices():
    """Prices that exist but cannot be bought self-serve."""
    legacy = Plan.objects.create(code="legacy", name="Legacy", tier_rank=5, status="archived")
    enterprise = Plan.objects.get(code="enterprise")
    pro = Plan.objects.get(code="pro")
    return {
        "archived": Price.objects.create(
            plan=legacy, interval="month", amount_cents=900, currency="usd"
        ),
        "inactive": Price.objects.create(
            plan=pro, interval="month", amount_cents=1_000, currency="usd", is_active=False
        ),
        "private": Price.objects.create(
            plan=enterprise, interval="month", amount_cents=9_900, currency="usd"
        ),
        "currency": Price.objects.create(
            plan=pro, interval="month", amount_cents=1_100, currency="eur"
        ),
    }


BAD_INPUT = [
    ({"seats": "0"}, "seats", "at least 1 seat"),
    ({"seats": "-2"}, "seats", "at least 1 seat"),
    ({"seats": "2.5"}, "seats", "whole number"),
    ({"seats": "two"}, "seats", "whole number"),
    ({"seats": ""}, "seats", "how many seats"),
    ({"price": "archived"}, "price", "Legacy plan is no longer offered"),
    ({"price": "inactive"}, "price", "no longer offered: choose a current price"),
    ({"price": "private"}, "price", "sold by our sales team"),
    ({"price": "currency"}, "price", "pays in USD; that price is in EUR"),
    ({"price": "999999"}, "price", "that price does not exist"),
]


def _bad_post(odd_prices, data: dict, seats: str = "3") -> dict:
    post = {"price": str(price_of("business").pk), "seats": seats} | data
    if post["price"] in odd_prices:
        post["price"] = str(odd_prices[post["price"]].pk)
    return post


@pytest.mark.parametrize(("data", "field", "message"), BAD_INPUT)
def test_bad_checkout_input_is_refused_naming_the_problem(
    owner_client, workspace, odd_prices, data, field, message
):
    before = state(workspace)

    response = owner_client.post(
        billing_url(workspace, "workspace_billing_checkout"), _bad_post(odd_prices, data)
    )

    assert response.status_code == 400
    assert message in response.text
    assert response.context["choice_form"].errors[field]
    assert state(workspace) == before


@pytest.mark.parametrize(("data", "field", "message"), BAD_INPUT)
def test_bad_change_input_is_refused_naming_the_problem(
    owner_client, workspace, pro, odd_prices, data, field, message
):
    before = state(workspace)

    preview = owner_client.get(
        billing_url(workspace, "workspace_billing_change"), _bad_post(odd_prices, data)
    )
    applied = owner_client.post(
        billing_url(workspace, "workspace_billing_change"), _bad_post(odd_prices, data)
    )

    for response in (preview, applied):
        assert response.status_code == 400
        assert message in response.text
        assert response.context["choice_form"].errors[field]
    assert state(workspace) == before


def test_a_workspace_already_paying_cannot_check_out_again(owner_client, workspace, pro):
    before = state(workspace)

    response = owner_client.post(
        billing_url(workspace, "workspace_billing_checkout"),
        {"price": price_of("business").pk, "seats": "3"},
    )

    assert response.status_code == 409
    assert "already has a subscription" in response.text
    assert state(workspace) == before


# Previews and changes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan", "interval", "seats", "due_now", "then"),
    [
        ("pro", "month", 4, "$8", "$48 per month"),  # a seat for 2/3 of the month
        ("business", "month", 3, "$24", "$72 per month"),  # (24 - 12) x 3 x 2/3
        ("pro", "year", 3, "$336", "$360 per year"),  # a year now, less 2/3 of a month
    ],
)
def test_the_preview_shows_the_prorated_amount_due_now_and_the_new_recurring_amount(
    owner_client, workspace, pro, plan, interval, seats, due_now, then
):
    before = state(workspace)

    response = owner_client.get(
        billing_url(workspace, "workspace_billing_change"),
        {"price": price_of(plan, interval).pk, "seats": seats},
    )

    assert response.status_code == 200
    assert f"<strong>{due_now}</strong>" in response.text
    assert then in response.text
    assert 'id="confirm-form"' in response.text
    assert state(workspace) == before  # a preview changes nothing


def test_the_preview_service_returns_integer_cents(workspace, pro):
    preview = services.subscription_change_preview(
        workspace=workspace, price=price_of("business"), seats=3
    )

    assert (preview.amount_due_now_cents, preview.next_amount_cents) == (2_400, 7_200)
    assert preview.next_billing_at == pro.current_period_end


def test_adding_seats_is_charged_at_once_and_mirrored_through_the_webhooks(
    owner_client, workspace, pro, owner
):
    response = owner_client.post(
        billing_url(workspace, "workspace_billing_change"),
        {"price": price_of("pro").pk, "seats": "5"},
    )
    assert response.status_code == 302
    assert deliver() == ["customer.subscription.updated", "invoice.paid"]

    pro.refresh_from_db()
    assert (pro.seats, pro.plan.code) == (5, "pro")
    assert limit_check(workspace, "seats", 1).limit == 5
    expansion = RevenueMovement.objects.filter(workspace=workspace).last()
    assert (expansion.kind, expansion.mrr_delta_cents) == ("expansion", 2_400)
    assert Invoice.objects.filter(workspace=workspace, amount_paid_cents=1_600).exists()
    audit = AuditEvent.objects.get(action=AuditEvent.Action.SUBSCRIPTION_CHANGED)
    assert (audit.actor, audit.before["seats"], audit.after["seats"]) == (owner, 3, 5)
    assert ledger_violations() == []


def test_switching_to_yearly_restarts_the_period_for_a_year(workspace, pro, owner):
    services.subscription_change(
        workspace=workspace, price=price_of("pro", "year"), seats=3, actor=owner
    )
    deliver()

    pro.refresh_from_db()
    assert pro.price == price_of("pro", "year")
    assert pro.current_period_end - pro.current_period_start >= timedelta(days=365)
    assert pro.mrr_cents == 3_000  # 36,000 a year
    assert ledger_violations() == []


def test_reconciliation_recovers_the_events_the_endpoint_never_received(workspace, owner):
    no_trial("pro")
    url = services.checkout_start(workspace=workspace, price=price_of("pro"), seats=2, actor=owner)
    LocalGateway().checkout_complete(
        session_id=urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1], card_number=CARD_OK
    )
    assert Subscription.objects.get(workspace=workspace).plan.code == "free"  # nothing arrived

    out = io.StringIO()
    call_command("reconcile_stripe", stdout=out)

    subscription = Subscription.objects.get(workspace=workspace)
    assert (subscription.plan.code, subscription.seats, subscription.status) == ("pro", 2, "active")
    assert Invoice.objects.filter(workspace=workspace, status="paid").exists()
    assert "recovered" in out.getvalue()
    assert ledger_violations() == []


def test_a_downgrade_the_usage_exceeds_is_refused_saying_what_to_change(
    owner_client, workspace, owner
):
    no_trial("business")
    subscription = subscribe(workspace, plan="business", seats=3)
    Project.objects.bulk_create(
        Project(workspace=workspace, name=f"P{n}", created_by=owner) for n in range(52)
    )
    before = state(workspace)

    response = owner_client.get(
        billing_url(workspace, "workspace_billing_change"),
        {"price": price_of("pro").pk, "seats": "3"},
    )

    assert response.status_code == 409
    assert "Pro with 3 seats cannot hold what this workspace uses now" in response.text
    assert "Projects: 50 allowed, 52 used — delete 2 projects first" in response.text
    assert "Nothing was changed" in response.text
    assert state(workspace) == before
    assert subscription.plan.code == "business"


def test_fewer_seats_than_the_team_holds_is_refused(workspace, pro, owner, admin_user):
    accounts_services.invitation_create(workspace=workspace, email="c@northwind.io", actor=owner)
    before = state(workspace)

    with pytest.raises(Conflict) as refused:
        services.subscription_change(
            workspace=workspace, price=price_of("pro"), seats=2, actor=owner
        )

    assert refused.value.field == "seats"
    assert "2 members and 1 pending invitation hold 3 seats" in refused.value.message
    assert "remove 1 member or revoke invitations first" in refused.value.message
    assert state(workspace) == before


def test_a_past_due_subscription_must_fix_the_card_before_changing(workspace, owner):
    no_trial("pro")
    subscribe(workspace, seats=1, card=CARD_FAILS)

    with pytest.raises(Conflict, match="update the card"):
        services.subscription_change_preview(workspace=workspace, price=price_of("pro"), seats=2)


# Cancel and resume --------------------------------------------------------------------------


def test_cancel_at_period_end_stores_the_reason_and_the_workspace_keeps_its_plan(
    owner_client, workspace, pro, owner
):
    response = owner_client.post(
        billing_url(workspace, "workspace_billing_cancel"),
        {"reason": "too_expensive", "comment": "Budget freeze until Q3"},
    )

    assert response.status_code == 302
    cancellation = Cancellation.objects.get(workspace=workspace)
    assert (cancellation.reason, cancellation.comment, cancellation.requested_by) == (
        "too_expensive",
        "Budget freeze until Q3",
        owner,
    )
    assert cancellation.subscription == pro
    details = local_subscription(pro)["cancellation_details"]
    assert (details["feedback"], details["comment"]) == ("too_expensive", "Budget freeze until Q3")
    assert deliver() == ["customer.subscription.updated"]
    pro.refresh_from_db()
    assert (pro.cancel_at_period_end, pro.plan.code, pro.status) == (True, "pro", "active")
    page = owner_client.get(billing_url(workspace)).text
    assert 'id="canceling"' in page
    assert "Keep Pro" in page
    cancel_requested = AuditEvent.Action.SUBSCRIPTION_CANCEL_REQUESTED
    assert AuditEvent.objects.filter(action=cancel_requested).exists()

    # At the end of the period the subscription ends and the workspace is back on Free.
    LocalGateway().clock_advance(subscription_id=pro.stripe_subscription_id)
    assert deliver() == ["customer.subscription.deleted"]
    pro.refresh_from_db()
    assert (pro.plan.code, pro.status) == ("free", "canceled")


def test_cancel_needs_a_reason_from_the_list(owner_client, workspace, pro):
    before = state(workspace)

    missing = owner_client.post(billing_url(workspace, "workspace_billing_cancel"), {})
    unknown = owner_client.post(
        billing_url(workspace, "workspace_billing_cancel"), {"reason": "aliens"}
    )

    assert missing.status_code == unknown.status_code == 400
    assert "Choose a reason for cancelling" in missing.text
    assert "Choose a reason from the list" in unknown.text
    assert state(workspace) == before


def test_resume_before_the_period_ends_keeps_the_subscription(owner_client, workspace, pro, owner):
    services.subscription_cancel(workspace=workspace, reason="unused", comment="", actor=owner)
    # The webhook has not arrived yet: the page already shows the cancellation.
    assert "Keep Pro" in owner_client.get(billing_url(workspace)).text
    with pytest.raises(Conflict, match="already set to end"):
        services.subscription_cancel(workspace=workspace, reason="unused", comment="", actor=owner)
    deliver()

    response = owner_client.post(billing_url(workspace, "workspace_billing_resume"))

    assert response.status_code == 302
    assert Cancellation.objects.get(workspace=workspace).resumed_at is not None
    assert local_subscription(pro)["cancel_at_period_end"] is False
    deliver()
    pro.refresh_from_db()
    assert pro.cancel_at_period_end is False
    assert 'id="cancel-form"' in owner_client.get(billing_url(workspace)).text
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SUBSCRIPTION_RESUMED).exists()


def test_resume_without_a_cancellation_is_refused(owner_client, workspace, pro):
    response = owner_client.post(billing_url(workspace, "workspace_billing_resume"))

    assert response.status_code == 409
    assert "nothing to resume" in response.text


def stripe_side_ended(subscription: Subscription) -> None:
    """Stripe has ended the subscription; its webhook is still on its way (the mirror
    still says live), so the gateway refuses what the page asks."""
    row = LocalStripeObject.objects.get(stripe_id=subscription.stripe_subscription_id)
    row.data["status"] = "canceled"
    row.save(update_fields=["data"])


def test_a_cancel_the_gateway_refuses_keeps_no_cancellation_and_says_why(
    owner_client, workspace, pro
):
    stripe_side_ended(pro)

    response = owner_client.post(
        billing_url(workspace, "workspace_billing_cancel"), {"reason": "unused", "comment": "x"}
    )

    assert response.status_code == 402
    assert billing_error(response) == "This subscription has ended."
    assert not Cancellation.objects.exists()  # recorded before the gateway, then removed
    assert not AuditEvent.objects.filter(action="subscription.cancel_requested").exists()
    assert 'id="canceling"' not in response.text
    assert 'id="cancel-form"' in response.text


def test_a_resume_the_gateway_refuses_leaves_the_cancellation_open_and_says_why(
    owner_client, workspace, pro, owner
):
    services.subscription_cancel(workspace=workspace, reason="unused", comment="", actor=owner)
    deliver()
    stripe_side_ended(pro)

    response = owner_client.post(billing_url(workspace, "workspace_billing_resume"))

    assert response.status_code == 402
    assert billing_error(response) == "This subscription has ended."
    assert Cancellation.objects.get(workspace=workspace).resumed_at is None
    assert not AuditEvent.objects.filter(action="subscription.resumed").exists()
    assert 'id="canceling"' in response.text


# Every refusal says why -----------------------------------------------------------------------


def billing_error(response) -> str:
    """The message at the top of the billing page."""
    match = re.search(r'id="billing-error">([^<]*)<', response.text)
    assert match, "the page shows no message"
    return html.unescape(match.group(1))


def _ending(workspace, owner) -> None:
    no_trial("pro")
    subscribe(workspace, seats=2)
    services.subscription_cancel(workspace=workspace, reason="unused", comment="", actor=owner)
    deliver()


def _paying(workspace, owner) -> None:
    no_trial("pro")
    subscribe(workspace, seats=2)


def _past_due(workspace, owner) -> None:
    no_trial("pro")
    subscribe(workspace, seats=2, card=CARD_FAILS)


REFUSALS = [
    ("cancel-while-ending", _ending, "post", "workspace_billing_cancel", "already set to end"),
    ("cancel-on-free", None, "post", "workspace_billing_cancel", "no paid subscription"),
    ("resume-not-ending", _paying, "post", "workspace_billing_resume", "nothing to resume"),
    ("checkout-while-paying", _paying, "post", "workspace_billing_checkout", "already has a"),
    ("change-on-free", None, "post", "workspace_billing_change", "no paid subscription"),
    ("change-past-due", _past_due, "post", "workspace_billing_change", "update the card"),
    ("portal-on-free", None, "post", "workspace_billing_portal", "no billing account yet"),
]


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize(
    ("given", "method", "name", "message"),
    [refusal[1:] for refusal in REFUSALS],
    ids=[refusal[0] for refusal in REFUSALS],
)
def test_every_conflict_on_the_billing_pages_shows_its_reason(
    owner_client, workspace, owner, given, method, name, message, htmx
):
    if given is not None:
        given(workspace, owner)
    data = {"reason": "too_complex", "comment": "", "price": price_of("pro").pk, "seats": "3"}
    headers = {}
    if htmx:  # a boosted form or link, as the pages send them
        headers = {
            "HTTP_HX_REQUEST": "true",
            "HTTP_HX_BOOSTED": "true",
            "HTTP_HX_CURRENT_URL": "http://testserver" + billing_url(workspace),
        }
    before = state(workspace)

    response = getattr(owner_client, method)(billing_url(workspace, name), data, **headers)

    assert response.status_code == 409
    assert message in billing_error(response)
    assert state(workspace) == before


# Who may do what ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "name", "data"),
    [
        ("post", "workspace_billing_checkout", {"price": "pro", "seats": "3"}),
        ("get", "workspace_billing_change", {"price": "pro", "seats": "4"}),
        ("post", "workspace_billing_change", {"price": "pro", "seats": "4"}),
        ("post", "workspace_billing_cancel", {"reason": "unused"}),
        ("post", "workspace_billing_resume", {}),
        ("post", "workspace_billing_portal", {}),
    ],
)
def test_members_can_look_but_not_change_billing(
    client, workspace, pro, member_user, method, name, data
):
    client.force_login(member_user)
    if "price" in data:
        data = data | {"price": price_of(data["price"]).pk}
    before = state(workspace)

    response = getattr(client, method)(billing_url(workspace, name), data)

    assert response.status_code == 403
    assert "owners and admins can change its billing" in response.text
    assert state(workspace) == before
    page = client.get(billing_url(workspace))
    assert page.status_code == 200
    assert 'id="read-only"' in page.text
    assert 'id="change-form"' not in page.text


def test_the_services_refuse_members_too(workspace, pro, member_user):
    with pytest.raises(PermissionDenied):
        services.subscription_change(
            workspace=workspace, price=price_of("pro"), seats=4, actor=member_user
        )
    with pytest.raises(PermissionDenied):
        services.subscription_cancel(
            workspace=workspace, reason="unused", comment="", actor=member_user
        )


def test_the_local_pages_of_another_workspace_are_404(client, workspace, pro, other_workspace):
    client.force_login(other_workspace.created_by)
    data = local_subscription(pro)
    invoice_id = Invoice.objects.filter(workspace=workspace).first().stripe_id
    session_id = LocalStripeObject.objects.get(object="checkout.session").stripe_id

    for path in (
        reverse("local_checkout", args=[session_id]),
        reverse("local_portal", args=[data["customer"]]),
        reverse("local_invoice", args=[invoice_id]),
    ):
        assert client.get(path).status_code == 404
        assert client.post(path, {"card_number": CARD_OK}).status_code in (404, 405)
    assert local_subscription(pro) == data
