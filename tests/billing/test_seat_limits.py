"""Which seat limit a workspace reached, and what lifts it.

On a per-seat plan the seat limit is the seats paid, up to the plan's own cap. When the
seats paid are full, more seats lift it (offered first); when the plan's cap is reached, a
higher plan does; an override is raised by sales. A seat override lets a workspace use more
seats than it pays for: billing still charges the seats paid, and the gap is shown on the
workspace's plan and billing pages and in the admin."""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from accounts import services as accounts_services
from accounts.roles import BILLING_ADMINS
from billing import entitlements
from billing import services as billing_services
from billing.entitlements import LimitSource
from billing.limits import LimitExceeded, limit_check, limit_enforce
from billing.models import PlanLimit, Subscription
from tests.billing.test_flows import CARD_FAILS, billing_url, no_trial, subscribe
from tests.factories import UserFactory, add_member
from usage.current import LimitStatus
from usage.models import ProductEvent

pytestmark = pytest.mark.django_db

SEATS_PAID_FULL = (
    "This workspace pays for 3 seats and uses 3. Add seats to make room: Pro allows up to 50."
)


@pytest.fixture
def pro(workspace):
    """Northwind on Pro monthly paying for 3 seats, no trial; owner + 2 members: full."""
    no_trial("pro")
    subscription = subscribe(workspace, seats=3)
    add_member(workspace, "a@northwind.io")
    add_member(workspace, "b@northwind.io")
    return subscription


def members_url(workspace) -> str:
    return reverse("workspace_members", args=[workspace.slug])


def invite(client, workspace, email="c@northwind.io"):
    return client.post(
        reverse("workspace_invite", args=[workspace.slug]), {"email": email, "role": "member"}
    )


def _grant_seats(workspace, limit, *, reason="Pilot agreed with sales", days=30):
    return billing_services.override_grant(
        workspace=workspace,
        actor=UserFactory(email="rep@handoff.test"),
        reason=reason,
        metric="seats",
        limit=limit,
        expires_at=timezone.now() + timedelta(days=days),
    )


# The limit check ----------------------------------------------------------------------------


def test_a_full_paid_plan_is_limited_by_the_seats_paid_which_more_seats_lift(workspace, pro):
    result = limit_check(workspace, "seats", 1)

    assert result.status == LimitStatus.BLOCKED
    assert (result.source, result.limit, result.plan_limit) == (LimitSource.SEATS_PAID, 3, 50)
    assert result.seats_paid_reached
    assert result.upgrade_plan is None  # Pro itself allows a fourth seat
    with pytest.raises(LimitExceeded) as refused:
        limit_enforce(workspace, "seats", 1)
    assert refused.value.message == SEATS_PAID_FULL


def test_the_free_plan_at_its_cap_is_limited_by_the_plan_which_an_upgrade_lifts(workspace):
    add_member(workspace, "a@northwind.io")
    add_member(workspace, "b@northwind.io")

    result = limit_check(workspace, "seats", 1)

    assert (result.source, result.limit) == (LimitSource.PLAN, 3)
    assert not result.seats_paid_reached
    assert result.upgrade_plan.code == "pro"
    with pytest.raises(LimitExceeded, match=r"Your Free plan allows 3 seats .* Upgrade to Pro"):
        limit_enforce(workspace, "seats", 1)


def test_seats_paid_up_to_the_plans_cap_are_lifted_by_an_upgrade(workspace, pro):
    PlanLimit.objects.filter(plan__code="pro", metric="seats").update(limit=3)
    entitlements.catalog_changed()  # .update() sends no signal

    result = limit_check(workspace, "seats", 1)

    assert result.source == LimitSource.PLAN  # the seats paid are the plan's whole cap
    assert result.upgrade_plan.code == "business"
    with pytest.raises(LimitExceeded, match=r"Your Pro plan allows 3 seats .* Upgrade to Business"):
        limit_enforce(workspace, "seats", 1)


# The members page -----------------------------------------------------------------------------


def test_a_full_paid_pro_workspace_names_the_seats_paid_and_offers_a_seat_first(
    owner_client, workspace, pro
):
    response = invite(owner_client, workspace)

    assert response.status_code == 402
    html = response.text
    assert SEATS_PAID_FULL in html
    assert "Every seat this workspace pays for is taken" in html
    assert 'data-limit-source="seats paid"' in html
    assert "3 of 3 seats paid" in html
    assert "Upgrade to Business" not in html
    assert "allows 3 seats" not in html
    offer = html.index('id="seat-offer"')
    assert ">Add a seat for $12/month</a>" in html
    assert offer < html.index("See plan options")
    hits = ProductEvent.objects.filter(workspace=workspace, name="paywall_hit")
    assert [hit.properties["limit"] for hit in hits] == [3]


def test_a_past_due_workspace_with_full_seats_is_sent_to_add_seats_on_the_billing_page(
    owner_client, workspace
):
    no_trial("pro")
    subscription = subscribe(workspace, seats=2, card=CARD_FAILS)
    assert subscription.status == Subscription.Status.PAST_DUE
    add_member(workspace, "a@northwind.io")

    html = owner_client.get(members_url(workspace)).text

    assert 'id="seat-offer"' not in html  # the change waits for a working card
    add_seats = re.search(r'<a class="button" id="add-seats" href="([^"]+)">Add seats</a>', html)
    assert add_seats, "no add-seats link"
    assert add_seats.group(1) == f"/w/{workspace.slug}/billing/#change"


def test_the_free_plan_at_its_seat_cap_offers_the_upgrade_first(owner_client, workspace):
    add_member(workspace, "a@northwind.io")
    add_member(workspace, "b@northwind.io")

    html = owner_client.get(members_url(workspace)).text

    assert 'data-limit-source="plan"' in html
    assert "You have reached a limit of the Free plan" in html
    assert f'<a class="button" href="/w/{workspace.slug}/plan/">Upgrade to Pro</a>' in html
    assert 'id="seat-offer"' not in html
    assert 'id="add-seats"' not in html


# A seat override --------------------------------------------------------------------------------


def test_a_seat_override_above_the_seats_paid_lets_the_team_grow_billed_for_the_seats_paid(
    owner_client, workspace, pro
):
    grant = _grant_seats(workspace, 10)

    invited = invite(owner_client, workspace)

    assert invited.status_code == 302
    assert limit_check(workspace, "seats", 1).limit == 10
    assert Subscription.objects.get(workspace=workspace).seats == 3  # billing unchanged
    until = grant.expires_at.strftime("%b %-d, %Y")
    gap = "10 seats granted by Handoff's team (Pilot agreed with sales) until"
    plan_page = owner_client.get(reverse("workspace_plan", args=[workspace.slug])).text
    billing_page = owner_client.get(billing_url(workspace)).text
    for html in (plan_page, billing_page):
        note = re.search(r'<span class="seat-override" id="seat-override">(.*?)</span>', html, re.S)
        assert note, "no seat override note"
        text = re.sub(r"<[^>]+>", "", note.group(1))
        assert text == f"{gap} {until}; you pay for 3."


def test_a_full_seat_override_is_raised_by_sales_not_by_a_seat_or_a_plan(
    owner_client, workspace, pro
):
    _grant_seats(workspace, 4)
    invite(owner_client, workspace)  # the fourth seat, granted

    response = invite(owner_client, workspace, "d@northwind.io")

    assert response.status_code == 402
    html = unescape(response.text)
    assert 'data-limit-source="override"' in html
    assert "Handoff's team set this workspace's limit to 4 seats (an override)" in html
    assert "Contact sales to raise it." in html
    assert 'id="seat-offer"' not in html  # a fifth paid seat would not lift the override
    assert "Upgrade to" not in html


def test_an_override_at_or_below_the_seats_paid_shows_no_gap(owner_client, workspace, pro):
    _grant_seats(workspace, 3)

    html = owner_client.get(reverse("workspace_plan", args=[workspace.slug])).text

    assert 'id="seat-override"' not in html
    assert "You pay for 3 seats." in html


def test_the_admin_shows_the_seats_an_override_grants_beyond_those_paid(client, workspace, pro):
    grant = _grant_seats(workspace, 10)
    staff = UserFactory(email="billing@handoff.test", is_staff=True)
    staff.groups.add(Group.objects.get(name=BILLING_ADMINS))
    client.force_login(staff)
    subscription = Subscription.objects.get(workspace=workspace)
    until = grant.expires_at.strftime("%b %-d, %Y")
    expected = (
        f"10 seats usable through an override (Pilot agreed with sales) until {until}; billed for 3"
    )

    subscription_page = client.get(
        reverse("admin:billing_subscription_change", args=[subscription.pk])
    )
    override_page = client.get(reverse("admin:billing_workspaceoverride_change", args=[grant.pk]))

    assert subscription_page.status_code == 200
    assert expected in subscription_page.text
    assert override_page.status_code == 200
    assert expected in override_page.text


# The plan page --------------------------------------------------------------------------------


def test_the_plan_page_says_the_seat_limit_is_the_seats_paid_under_the_plans_cap(
    owner_client, workspace, pro
):
    html = owner_client.get(reverse("workspace_plan", args=[workspace.slug])).text

    row = re.search(r'<tr data-metric="seats"[^>]*>.*?</tr>', html, re.S).group(0)
    label = " ".join(re.sub(r"<[^>]+>", " ", re.search(r"<th.*?</th>", row, re.S).group(0)).split())
    assert label == "Seats the seats you pay for; Pro allows up to 50"
    assert "seats paid" not in row
    assert "3 of 3" in row
    assert "You pay for 3 seats." in html


def test_accepting_an_invitation_into_full_paid_seats_asks_for_seats_not_a_plan(client, workspace):
    no_trial("pro")
    subscribe(workspace, seats=2)
    _, token = accounts_services.invitation_create(
        workspace=workspace, email="late@northwind.io", actor=workspace.created_by
    )
    add_member(workspace, "a@northwind.io")  # the invitation's seat is taken meanwhile

    response = client.post(
        f"/invitations/{token}/", {"password": "a-long-password-1", "full_name": "Late Comer"}
    )

    assert response.status_code == 402
    assert "This workspace pays for 2 seats and uses 2." in response.text
    assert "Ask an owner or admin of the workspace to add seats" in response.text
