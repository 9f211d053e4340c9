"""The pricing page, a workspace's plan page, and the paywall where a limit or a feature
stops a change (invitations at the seat limit, the audit log)."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import AuditEvent, Invitation
from billing import services as billing_services
from billing.models import Plan
from tests.factories import PASSWORD, WorkspaceFactory, add_member, on_plan
from usage.models import ProductEvent

pytestmark = pytest.mark.django_db


def _price_cell(html: str, plan_code: str) -> str:
    """The pricing table's price cell of one plan."""
    match = re.search(rf'<td data-plan="{plan_code}"[^>]*>(.*?)</td>', html, re.S)
    assert match, f"no price cell for {plan_code}"
    return match.group(1)


def _row(html: str, label: str) -> str:
    match = re.search(rf"<tr[^>]*>\s*<th scope=\"row\"[^>]*>{label}.*?</tr>", html, re.S)
    assert match, f"no row {label!r}"
    return match.group(0)


def _paywall_hits(workspace) -> list[dict]:
    return list(
        ProductEvent.objects.filter(workspace=workspace, name="paywall_hit").values_list(
            "properties", flat=True
        )
    )


# Pricing ----------------------------------------------------------------------------------


def test_pricing_lists_every_offered_plan_with_limits_and_features(client):
    response = client.get("/pricing/")

    assert response.status_code == 200
    html = response.text
    headers = re.findall(r'<th scope="col" data-plan="(\w+)"', html)
    assert headers == ["free", "pro", "business", "enterprise"]
    assert re.findall(r"<td>([^<]*)</td>", _row(html, "Seats")) == [
        "3 seats",
        "50 seats",
        "500 seats",
        "Unlimited",
    ]
    assert "10,000 calls" in _row(html, "API calls")
    assert "(soft)" in _row(html, "API calls")  # paid plans allow API calls over the limit
    audit = _row(html, "Audit log")
    assert re.findall(r'aria-label="(included|not included)"', audit) == [
        "not included",
        "not included",
        "included",
        "included",
    ]


def test_pricing_shows_monthly_per_seat_prices_and_trials(client):
    html = client.get("/pricing/").text

    assert "$12" in _price_cell(html, "pro")
    assert "per seat / month" in _price_cell(html, "pro")
    assert "14-day free trial" in _price_cell(html, "pro")
    assert "$24" in _price_cell(html, "business")
    assert "Free" in _price_cell(html, "free")


def test_yearly_toggle_shows_yearly_prices_and_the_saving(client):
    html = client.get("/pricing/?interval=year").text

    pro = _price_cell(html, "pro")
    assert "$120" in pro
    assert "per seat / year" in pro
    assert "Save $24 per seat a year (16%)" in pro
    assert "$240" in _price_cell(html, "business")
    assert 'href="?interval=month"' in html


def test_unknown_interval_falls_back_to_monthly(client):
    html = client.get("/pricing/?interval=fortnight").text

    assert "per seat / month" in _price_cell(html, "pro")


def test_archived_plan_leaves_the_pricing_page(client):
    client.get("/pricing/")  # warm the cache: the edit must invalidate it
    pro = Plan.objects.get(code="pro")
    pro.status = Plan.Status.ARCHIVED
    pro.save(update_fields=["status", "updated_at"])

    html = client.get("/pricing/").text

    assert 'data-plan="pro"' not in html
    assert re.findall(r'<th scope="col" data-plan="(\w+)"', html) == [
        "free",
        "business",
        "enterprise",
    ]


def test_private_plan_shows_contact_sales_instead_of_a_price(client, settings):
    settings.HANDOFF_SALES_EMAIL = "deals@northwind.io"

    cell = _price_cell(client.get("/pricing/").text, "enterprise")

    assert "Contact sales" in cell
    assert 'href="mailto:deals@northwind.io' in cell
    assert "$" not in cell


def test_contact_sales_defaults_to_the_built_in_address(client):
    # HANDOFF_SALES_EMAIL is not set in the test environment: settings.py's default applies.
    cell = _price_cell(client.get("/pricing/").text, "enterprise")

    assert 'href="mailto:sales@handoff.localhost' in cell


def test_anonymous_visitor_is_offered_to_start_free(client):
    cell = _price_cell(client.get("/pricing/").text, "free")

    assert '<a class="button" href="/signup/">Start free</a>' in cell


def test_signed_in_users_current_plan_is_marked(owner_client, workspace):
    on_plan(workspace, "business")

    html = owner_client.get("/pricing/").text

    assert "Current plan" in _column_header(html, "business")
    assert "Current plan" not in _column_header(html, "free")
    assert "Start free" not in html


def _column_header(html: str, plan_code: str) -> str:
    match = re.search(rf'<th scope="col" data-plan="{plan_code}"[^>]*>(.*?)</th>', html, re.S)
    assert match
    return match.group(1)


def test_pricing_marks_the_plan_of_the_workspace_named_in_the_query(client, owner, workspace):
    second = WorkspaceFactory(name="Zeta Labs", created_by=owner)
    on_plan(second, "pro")
    client.force_login(owner)

    first_html = client.get("/pricing/").text  # Northwind comes first by name: Free
    chosen_html = client.get(f"/pricing/?workspace={second.slug}").text

    assert "Current plan" in _column_header(first_html, "free")
    assert "Current plan" in _column_header(chosen_html, "pro")
    assert "Current plan" not in _column_header(chosen_html, "free")


def test_pricing_ignores_a_workspace_the_user_is_not_a_member_of(
    owner_client, workspace, other_workspace
):
    on_plan(other_workspace, "business")

    html = owner_client.get(f"/pricing/?workspace={other_workspace.slug}").text

    assert "Current plan" in _column_header(html, "free")
    assert "Current plan" not in _column_header(html, "business")
    assert other_workspace.name not in html


def test_pricing_query_budget_with_a_warm_cache(
    owner_client, workspace, django_assert_max_num_queries
):
    owner_client.get("/pricing/")

    # session, user, membership, feature names (metric labels are cached)
    with django_assert_max_num_queries(4):
        response = owner_client.get("/pricing/?interval=year")
    assert response.status_code == 200


# A workspace's plan page --------------------------------------------------------------------


def _plan_url(workspace) -> str:
    return f"/w/{workspace.slug}/plan/"


def _limit_row(html: str, metric: str) -> str:
    match = re.search(rf'<tr data-metric="{metric}"[^>]*>.*?</tr>', html, re.S)
    assert match, f"no limit row for {metric}"
    return match.group(0)


def test_plan_page_shows_usage_against_each_limit(owner_client, workspace, member_user):
    services.project_create(workspace=workspace, name="Launch", actor=workspace.created_by)

    response = owner_client.get(_plan_url(workspace))

    assert response.status_code == 200
    html = response.text
    assert '<strong data-plan="free">Free</strong>' in html
    assert "Active" in html
    seats = _limit_row(html, "seats")
    assert "2 of 3 seats" in seats
    assert 'aria-valuenow="66"' in seats
    assert "Hard: blocked at the limit" in seats
    projects = _limit_row(html, "projects")
    assert "1 of 3 projects" in projects
    assert 'aria-valuenow="33"' in projects
    assert "resets every month" in _limit_row(html, "api_calls")
    assert "resets every month" not in seats


def test_plan_page_counts_pending_invitations_as_seats(owner_client, workspace):
    services.invitation_create(
        workspace=workspace, email="new@northwind.io", actor=workspace.created_by
    )

    html = owner_client.get(_plan_url(workspace)).text

    assert "2 of 3 seats" in _limit_row(html, "seats")


def test_plan_page_shows_unlimited_limits_without_a_bar(owner_client, workspace):
    on_plan(workspace, "business")

    projects = _limit_row(owner_client.get(_plan_url(workspace)).text, "projects")

    assert "of unlimited" in projects
    assert "progressbar" not in projects


def test_plan_page_shows_features_on_and_off(owner_client, workspace):
    on_plan(workspace, "pro")

    html = owner_client.get(_plan_url(workspace)).text

    assert re.search(r'data-feature="advanced_analytics">.*?✓ included', html, re.S)
    assert re.search(r'data-feature="audit_log">.*?— not included', html, re.S)


def test_plan_page_shows_active_overrides_with_reason_and_expiry(owner_client, workspace, owner):
    expires_at = timezone.now() + timedelta(days=14)
    billing_services.override_grant(
        workspace=workspace,
        actor=owner,
        metric="projects",
        limit=10,
        reason="Pilot agreed with sales",
        expires_at=expires_at,
    )
    billing_services.override_grant(
        workspace=workspace, actor=owner, feature="audit_log", reason="Security review"
    )

    html = owner_client.get(_plan_url(workspace)).text

    overrides = re.search(r'<table id="overrides">.*?</table>', html, re.S).group(0)
    assert "Pilot agreed with sales" in overrides
    assert "10 projects (hard)" in overrides
    assert expires_at.strftime("%b %-d, %Y") in overrides
    assert "Security review" in overrides
    assert "no expiry" in overrides
    assert "0 of 10 projects" in _limit_row(html, "projects")
    assert "override" in _limit_row(html, "projects")


def test_plan_page_hides_an_expired_override(owner_client, workspace, owner):
    granted = timezone.now() - timedelta(days=30)
    billing_services.override_grant(
        workspace=workspace,
        actor=owner,
        metric="seats",
        limit=20,
        reason="Old trial",
        expires_at=granted + timedelta(days=14),
        now=granted,
    )

    html = owner_client.get(_plan_url(workspace)).text

    assert "Old trial" not in html
    assert 'id="overrides"' not in html
    assert "1 of 3 seats" in _limit_row(html, "seats")


def test_plan_page_offers_the_higher_plans_through_pricing(owner_client, workspace):
    on_plan(workspace, "pro")

    html = owner_client.get(_plan_url(workspace)).text

    upgrades = re.search(r'<div class="plans" id="upgrades">.*', html, re.S).group(0)
    assert re.findall(r'data-plan="(\w+)"', upgrades) == ["business", "enterprise"]
    assert f'href="/pricing/?workspace={workspace.slug}">Upgrade</a>' in upgrades
    assert "mailto:sales@handoff.localhost" in upgrades
    assert "checkout" in html.lower()


def test_plan_page_states_the_downgrade_rule_and_flags_usage_over_the_limit(
    owner_client, workspace, owner
):
    on_plan(workspace, "pro")
    for n in range(4):
        services.project_create(workspace=workspace, name=f"P{n}", actor=owner)
    on_plan(workspace, "free")

    html = owner_client.get(_plan_url(workspace)).text

    assert "what is over the limit stays and is read-only" in html
    assert "nothing more can be added (no new members, invitations or projects)" in html
    assert 'class="over"' in _limit_row(html, "projects")
    assert "4 of 3 projects" in _limit_row(html, "projects")
    assert 'class="error over-limit"' in html


def test_any_member_sees_the_plan_page(client, workspace, member_user):
    client.force_login(member_user)

    assert client.get(_plan_url(workspace)).status_code == 200


def test_member_of_another_workspace_gets_404_for_the_plan_page(client, workspace, other_workspace):
    client.force_login(other_workspace.created_by)

    assert client.get(_plan_url(workspace)).status_code == 404


def test_plan_page_query_budget(owner_client, workspace, django_assert_max_num_queries):
    for n in range(2):
        services.invitation_create(
            workspace=workspace, email=f"i{n}@northwind.io", actor=workspace.created_by
        )
    services.project_create(workspace=workspace, name="Launch", actor=workspace.created_by)
    owner_client.get(_plan_url(workspace))

    # session, user, membership, feature names; usage readings are cached by usage.current
    with django_assert_max_num_queries(7):
        response = owner_client.get(_plan_url(workspace))
    assert response.status_code == 200


# The paywall --------------------------------------------------------------------------------


def test_invitation_beyond_the_seat_limit_shows_the_paywall_and_creates_nothing(
    owner_client, workspace, owner
):
    for n in range(2):
        services.invitation_create(workspace=workspace, email=f"p{n}@northwind.io", actor=owner)

    response = owner_client.post(
        f"/w/{workspace.slug}/members/invite/", {"email": "third@northwind.io", "role": "member"}
    )

    assert response.status_code == 402
    html = response.text
    assert 'id="paywall"' in html
    assert '<strong class="upgrade-plan">Pro</strong>' in html
    assert f'href="/w/{workspace.slug}/plan/">Upgrade to Pro</a>' in html
    assert "3 of 3" in html
    assert not Invitation.objects.filter(email="third@northwind.io").exists()
    assert _paywall_hits(workspace) == [{"metric": "seats", "used": 3, "limit": 3, "amount": 1}]


def test_members_page_shows_seats_used_with_pending_invitations(owner_client, workspace, owner):
    services.invitation_create(workspace=workspace, email="p@northwind.io", actor=owner)

    html = owner_client.get(f"/w/{workspace.slug}/members/").text

    assert "<strong>2 of 3</strong> seats used" in html
    assert "pending invitations hold a seat" in html
    assert 'id="paywall"' not in html


def test_members_page_at_the_seat_limit_shows_the_paywall_without_recording_a_hit(
    owner_client, workspace, owner
):
    for n in range(2):
        services.invitation_create(workspace=workspace, email=f"p{n}@northwind.io", actor=owner)

    html = owner_client.get(f"/w/{workspace.slug}/members/").text

    assert "<strong>3 of 3</strong> seats used" in html
    assert 'id="paywall"' in html
    assert _paywall_hits(workspace) == []


def test_accepting_an_invitation_into_a_full_workspace_shows_the_paywall(client, workspace, owner):
    on_plan(workspace, "pro")
    add_member(workspace, "a@northwind.io")
    add_member(workspace, "b@northwind.io")
    _, token = services.invitation_create(
        workspace=workspace, email="late@northwind.io", actor=owner
    )
    on_plan(workspace, "free")  # three members now fill the three seats

    response = client.post(
        f"/invitations/{token}/", {"password": PASSWORD, "full_name": "Late Comer"}
    )

    assert response.status_code == 402
    assert 'id="paywall"' in response.text
    assert "Ask an owner or admin of the workspace to upgrade" in response.text
    assert f"/w/{workspace.slug}/plan/" not in response.text  # not theirs to open
    assert not workspace.memberships.filter(user__email="late@northwind.io").exists()
    assert [hit["metric"] for hit in _paywall_hits(workspace)] == ["seats"]


def _audit_url(workspace) -> str:
    return f"/w/{workspace.slug}/audit-log/"


def test_audit_log_on_free_shows_the_paywall_and_records_the_hit(owner_client, workspace):
    response = owner_client.get(_audit_url(workspace))

    assert response.status_code == 402
    assert 'id="paywall"' in response.text
    assert '<strong class="upgrade-plan">Business</strong>' in response.text
    assert f'href="/w/{workspace.slug}/plan/">Upgrade to Business</a>' in response.text
    assert 'id="audit-log"' not in response.text
    hit = ProductEvent.objects.get(workspace=workspace, name="paywall_hit")
    assert hit.properties == {"feature": "audit_log"}
    assert hit.user_email == "owner@northwind.io"


def test_audit_log_on_business_lists_the_workspaces_events_newest_first(
    owner_client, workspace, member_user, other_workspace
):
    on_plan(workspace, "business")

    response = owner_client.get(_audit_url(workspace))

    assert response.status_code == 200
    actions = re.findall(r'<tr data-action="([\w.]+)"', response.text)
    assert actions == list(
        AuditEvent.objects.filter(workspace=workspace).values_list("action", flat=True)
    )
    assert actions[0] == AuditEvent.Action.SUBSCRIPTION_PLAN_CHANGED
    assert actions[-1] == AuditEvent.Action.WORKSPACE_CREATED
    assert "member@northwind.io" in response.text
    assert "boss@globex.com" not in response.text
    assert _paywall_hits(workspace) == []


def test_audit_log_is_paginated_by_fifty(
    owner_client, workspace, owner, django_assert_max_num_queries
):
    on_plan(workspace, "business")
    AuditEvent.objects.bulk_create(
        AuditEvent(workspace=workspace, actor=owner, action="project.created", subject=f"p{n}")
        for n in range(60)
    )
    total = AuditEvent.objects.filter(workspace=workspace).count()
    owner_client.get(_audit_url(workspace))

    # session, user, membership, count, page
    with django_assert_max_num_queries(5):
        first = owner_client.get(_audit_url(workspace))
    second = owner_client.get(_audit_url(workspace) + "?page=2")

    assert first.text.count("<tr data-action=") == 50
    assert second.text.count("<tr data-action=") == total - 50
    assert "Page 2 of 2" in second.text


def test_an_audit_log_override_on_free_opens_the_audit_log(owner_client, workspace, owner):
    billing_services.override_grant(
        workspace=workspace, actor=owner, feature="audit_log", reason="Security review"
    )

    response = owner_client.get(_audit_url(workspace))

    assert response.status_code == 200
    assert 'id="audit-log"' in response.text


def test_a_member_cannot_see_the_audit_log(client, workspace, member_user):
    on_plan(workspace, "business")
    client.force_login(member_user)

    response = client.get(_audit_url(workspace))

    assert response.status_code == 403
    assert "Only owners and admins of this workspace can see the audit log." in response.text
    assert 'id="audit-log"' not in response.text
    assert _paywall_hits(workspace) == []


def test_an_admin_sees_the_audit_log(client, workspace, admin_user):
    on_plan(workspace, "business")
    client.force_login(admin_user)

    assert client.get(_audit_url(workspace)).status_code == 200


def test_workspace_nav_links_projects_plan_and_audit_log_for_managers(owner_client, workspace):
    html = owner_client.get(_plan_url(workspace)).text

    for path in ("projects/", "plan/", "audit-log/"):
        assert f'href="/w/{workspace.slug}/{path}"' in html
    assert f'href="/pricing/?workspace={workspace.slug}"' in html


def test_workspace_nav_hides_the_audit_log_from_members(client, workspace, member_user):
    client.force_login(member_user)

    html = client.get(_plan_url(workspace)).text

    assert f'href="/w/{workspace.slug}/audit-log/"' not in html


def test_anonymous_visitor_is_sent_to_log_in_for_a_plan_page(client, workspace):
    response = client.get(_plan_url(workspace))

    assert response.status_code == 302
    assert response.url.startswith("/login/")
