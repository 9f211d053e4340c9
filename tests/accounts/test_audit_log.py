"""The audit log as customers read it: sentences with only what changed, names for codes,
money and dates formatted, and staff shown as "Handoff staff", never by their address."""

import re
import zoneinfo
from datetime import UTC, datetime

import pytest
from django.utils import dateformat

from accounts import services
from accounts.audit import AuditVocabulary, audit_entries, audit_record
from accounts.models import AuditEvent
from billing import services as billing_services
from billing.templatetags.money import money
from tests.billing.test_flows import deliver, no_trial, price_of, subscribe
from tests.factories import UserFactory, add_member, on_plan

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    return UserFactory(email="rep@handoff.example", full_name="Sam Rivera", is_staff=True)


@pytest.fixture
def ada(owner):
    owner.full_name = "Ada Lovelace"
    owner.save(update_fields=["full_name"])
    return owner


def _audit_log(client, workspace) -> str:
    response = client.get(f"/w/{workspace.slug}/audit-log/")
    assert response.status_code == 200
    return response.text


def _row(html: str, action: str) -> str:
    """The text of the newest row of ``action``, tags removed."""
    match = re.search(rf'<tr data-action="{re.escape(action)}">(.*?)</tr>', html, re.S)
    assert match, f"no {action} row"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))).strip()


def _paid_pro(workspace, staff, seats: int = 3):
    """Pro through the real checkout, with the audit log opened by an override."""
    no_trial("pro")
    subscription = subscribe(workspace, seats=seats)
    billing_services.override_grant(
        workspace=workspace, actor=staff, feature="audit_log", reason="Security review deal"
    )
    return subscription


def test_staff_are_shown_as_handoff_staff_and_their_address_never_appears(
    client, workspace, ada, staff
):
    on_plan(workspace, "business")
    billing_services.override_grant(
        workspace=workspace, actor=staff, metric="seats", limit=10, reason="Pilot deal, 10 seats"
    )
    client.force_login(ada)

    html = _audit_log(client, workspace)

    assert _row(html, "override.granted").endswith("Handoff staff set the seats limit to 10.")
    assert "rep@handoff.example" not in html
    assert "Sam Rivera" not in html
    assert "Pilot deal" not in html  # the staff's note stays in the admin


def test_a_plan_set_by_hand_reads_from_one_plan_name_to_the_other(owner_client, workspace):
    on_plan(workspace, "business")

    html = _audit_log(owner_client, workspace)

    assert _row(html, "subscription.plan_changed").endswith(
        "Handoff changed the plan from Free to Business."
    )


def test_a_seat_change_says_only_that_the_seats_changed(client, workspace, ada, staff):
    _paid_pro(workspace, staff, seats=3)
    billing_services.subscription_change(
        workspace=workspace, price=price_of("pro"), seats=5, actor=ada
    )
    client.force_login(ada)

    row = _row(_audit_log(client, workspace), "subscription.changed")

    assert row.endswith("Ada Lovelace changed the seats from 3 to 5.")
    for raw in ("price_cents", "plan:", "interval", "currency", "usd", "{"):
        assert raw not in row


def test_a_plan_change_names_the_plans_and_formats_the_prices(client, workspace, ada, staff):
    _paid_pro(workspace, staff, seats=3)
    pro, business = price_of("pro"), price_of("business")
    billing_services.subscription_change(workspace=workspace, price=business, seats=3, actor=ada)
    client.force_login(ada)

    row = _row(_audit_log(client, workspace), "subscription.changed")

    old, new = money(pro.amount_cents, "usd"), money(business.amount_cents, "usd")
    assert row.endswith(
        f"Ada Lovelace changed the plan from Pro to Business and the price from {old} to {new}."
    )
    assert str(business.amount_cents) not in row.replace(new, "")


def test_a_cancellation_shows_its_reason_and_the_end_date_formatted(client, workspace, ada, staff):
    workspace.time_zone = "Asia/Tokyo"
    workspace.save(update_fields=["time_zone"])
    subscription = _paid_pro(workspace, staff)
    billing_services.subscription_cancel(
        workspace=workspace, reason="too_expensive", comment="Budget cut", actor=ada
    )
    client.force_login(ada)

    html = _audit_log(client, workspace)

    ends = subscription.current_period_end.astimezone(zoneinfo.ZoneInfo("Asia/Tokyo"))
    row = _row(html, "subscription.cancel_requested")
    ends_on = dateformat.format(ends, "M j, Y")
    assert f"Ada Lovelace canceled the Pro subscription: it ends on {ends_on}." in row
    assert "Reason: Too expensive." in row
    assert "Comment: “Budget cut”" in row
    assert subscription.current_period_end.isoformat()[:10] not in row
    assert "times in Asia/Tokyo" in html


def test_a_feature_override_reads_turned_on_not_enabled_true(owner_client, workspace, staff):
    billing_services.override_grant(
        workspace=workspace, actor=staff, feature="audit_log", reason="Security review"
    )

    row = _row(_audit_log(owner_client, workspace), "override.granted")

    assert row.endswith("Handoff staff turned on Audit log for this workspace.")
    assert "enabled" not in row
    assert "True" not in row


def test_member_and_project_events_read_as_sentences(client, workspace, ada):
    on_plan(workspace, "business")
    tom = add_member(workspace, "tom@northwind.io")
    services.membership_change_role(membership=tom, role="admin", actor=ada)
    services.invitation_create(workspace=workspace, email="dana@northwind.io", actor=ada)
    project = services.project_create(workspace=workspace, name="Launch", actor=ada)
    services.project_rename(project=project, name="Q3 launch", actor=ada)
    services.project_delete(project=project, actor=ada)
    services.workspace_update(workspace=workspace, actor=ada, name="Northwind HQ", slug="nw-hq")
    workspace.refresh_from_db()
    client.force_login(ada)

    html = _audit_log(client, workspace)

    assert _row(html, "workspace.created").endswith(
        "Ada Lovelace created the workspace “Northwind”."
    )
    assert _row(html, "member.role_changed").endswith(
        "Ada Lovelace changed the role of tom@northwind.io from member to admin."
    )
    assert _row(html, "invitation.sent").endswith(
        "Ada Lovelace invited dana@northwind.io to join as member."
    )
    assert _row(html, "project.renamed").endswith(
        "Ada Lovelace renamed the project “Launch” to “Q3 launch”."
    )
    assert _row(html, "project.deleted").endswith("Ada Lovelace deleted the project “Q3 launch”.")
    assert _row(html, "workspace.changed").endswith(
        "Ada Lovelace renamed the workspace from “Northwind” to “Northwind HQ” and changed its "
        "address from /w/northwind/ to /w/nw-hq/."
    )


def test_an_action_without_its_own_sentence_shows_only_the_values_that_changed(workspace):
    event = audit_record(
        action="billing.something_new",
        actor=None,
        workspace=workspace,
        before={"enabled": True, "seats": 3, "note": "same"},
        after={"enabled": False, "seats": 3, "note": "same", "renews_at": "2026-03-03T10:00:00Z"},
    )

    [entry] = audit_entries([event], vocabulary=AuditVocabulary(), tz=UTC)

    assert entry.sentence == "Handoff: billing.something_new."
    assert entry.details == ("Enabled changed from on to off.", "Renews at: Mar 3, 2026.")


def test_dates_are_shown_in_the_workspaces_time_zone(workspace):
    event = audit_record(
        action=AuditEvent.Action.SUBSCRIPTION_CANCEL_REQUESTED,
        actor=None,
        workspace=workspace,
        after={"plan": "pro", "ends_at": datetime(2026, 3, 3, 23, 30, tzinfo=UTC).isoformat()},
    )
    vocabulary = AuditVocabulary(plans=lambda: {"pro": "Pro"})

    [tokyo] = audit_entries([event], vocabulary=vocabulary, tz=zoneinfo.ZoneInfo("Asia/Tokyo"))
    [utc] = audit_entries([event], vocabulary=vocabulary, tz=UTC)

    assert tokyo.sentence == "Handoff canceled the Pro subscription: it ends on Mar 4, 2026."
    assert utc.sentence == "Handoff canceled the Pro subscription: it ends on Mar 3, 2026."


def test_the_audit_log_page_keeps_its_query_budget_with_every_kind_of_entry(
    client, workspace, ada, staff, django_assert_max_num_queries
):
    _paid_pro(workspace, staff)
    billing_services.subscription_change(
        workspace=workspace, price=price_of("pro"), seats=4, actor=ada
    )
    deliver()
    client.force_login(ada)
    _audit_log(client, workspace)

    # session, user, membership, count, page, feature names (for the override's sentence)
    with django_assert_max_num_queries(6):
        _audit_log(client, workspace)
