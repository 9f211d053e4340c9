"""A workspace's settings: its name and address (with old addresses still leading its
members home), deleting it (and what happens to its subscription), a second workspace for
the same person, and the switcher between them."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import services
from accounts.models import (
    ApiKey,
    AuditEvent,
    Invitation,
    Membership,
    Role,
    Workspace,
    WorkspaceFormerSlug,
)
from billing import services as billing_services
from billing.models import Invoice, Subscription
from billing.stripe.local import LocalGateway
from tests.billing.test_flows import CARD_FAILS, deliver, no_trial, subscribe
from tests.factories import UserFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


def _settings_url(workspace) -> str:
    return f"/w/{workspace.slug}/settings/"


def _delete_url(workspace) -> str:
    return f"/w/{workspace.slug}/settings/delete/"


def _state(workspace) -> tuple:
    workspace.refresh_from_db()
    return (
        workspace.name,
        workspace.slug,
        workspace.deleted_at,
        sorted(WorkspaceFormerSlug.objects.values_list("slug", flat=True)),
        Membership.objects.filter(workspace=workspace).count(),
    )


# Name and address --------------------------------------------------------------------------


def test_an_owner_renames_the_workspace_and_moves_it_to_a_new_address(owner_client, workspace):
    response = owner_client.post(
        _settings_url(workspace), {"name": "Northwind Traders", "slug": "Northwind-Traders"}
    )

    assert response.status_code == 302
    assert response.url == "/w/northwind-traders/settings/"
    workspace.refresh_from_db()
    assert (workspace.name, workspace.slug) == ("Northwind Traders", "northwind-traders")
    page = owner_client.get(response.url).text
    assert "links with /w/northwind/ still lead members here" in page
    assert "<strong>Northwind Traders</strong>" in page
    event = AuditEvent.objects.get(action=AuditEvent.Action.WORKSPACE_CHANGED)
    assert (event.before, event.after) == (
        {"name": "Northwind", "slug": "northwind"},
        {"name": "Northwind Traders", "slug": "northwind-traders"},
    )


def test_the_old_address_takes_members_to_the_same_page_at_the_new_one(
    client, workspace, member_user
):
    services.workspace_update(
        workspace=workspace, actor=workspace.created_by, name="Northwind", slug="nw-hq"
    )
    client.force_login(member_user)

    page = client.get("/w/northwind/members/?page=2")
    form = client.post("/w/northwind/projects/new/", {"name": "Launch"})

    assert page.status_code == 302
    assert page.url == "/w/nw-hq/members/?page=2"
    assert form.status_code == 307  # the browser posts the form again, to the new address
    assert form.url == "/w/nw-hq/projects/new/"
    assert client.get("/w/northwind/").url == "/w/nw-hq/"


def test_saving_without_changes_records_nothing(owner_client, workspace):
    response = owner_client.post(
        _settings_url(workspace), {"name": "Northwind", "slug": "northwind"}
    )

    assert response.status_code == 302
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.WORKSPACE_CHANGED).exists()
    assert not WorkspaceFormerSlug.objects.exists()


@pytest.mark.parametrize(
    ("slug", "status", "error"),
    [
        ("", 400, "This field is required."),
        ("ab", 400, "Use 3 to 60 characters"),
        ("x" * 61, 400, "at most 60 characters"),
        ("north wind", 400, "Use lower-case letters, digits and hyphens"),
        ("-northwind", 400, "Use lower-case letters, digits and hyphens"),
        ("northwind-", 400, "Use lower-case letters, digits and hyphens"),
        ("nörthwind", 400, "Use lower-case letters, digits and hyphens"),
        ("admin", 400, "“admin” is reserved"),
        ("settings", 400, "“settings” is reserved"),
        ("deleted-12", 400, "“deleted-12” is reserved"),
        ("globex", 409, "The address /w/globex/ is taken"),
    ],
)
def test_a_bad_or_taken_address_is_refused_and_changes_nothing(
    owner_client, workspace, other_workspace, slug, status, error
):
    before = _state(workspace)

    response = owner_client.post(_settings_url(workspace), {"name": "Renamed", "slug": slug})

    assert response.status_code == status
    assert error in response.text
    assert 'id="workspace-settings"' in response.text
    assert _state(workspace) == before


def test_another_workspaces_former_address_stays_taken(owner_client, workspace, other_workspace):
    services.workspace_update(
        workspace=other_workspace,
        actor=other_workspace.created_by,
        name="Globex",
        slug="globex-corp",
    )
    before = _state(workspace)

    response = owner_client.post(_settings_url(workspace), {"name": "Northwind", "slug": "globex"})

    assert response.status_code == 409
    assert "The address /w/globex/ is taken" in response.text
    assert _state(workspace) == before


def test_a_workspace_may_take_back_its_own_former_address(owner_client, workspace):
    owner_client.post(_settings_url(workspace), {"name": "Northwind", "slug": "nw-hq"})

    response = owner_client.post("/w/nw-hq/settings/", {"name": "Northwind", "slug": "northwind"})

    assert response.status_code == 302
    workspace.refresh_from_db()
    assert workspace.slug == "northwind"
    assert list(WorkspaceFormerSlug.objects.values_list("slug", "workspace")) == [
        ("nw-hq", workspace.pk)
    ]


def test_a_new_workspace_never_takes_a_former_or_reserved_address(workspace, owner):
    services.workspace_update(workspace=workspace, actor=owner, name="Northwind", slug="nw-hq")

    again = WorkspaceFactory(name="Northwind", created_by=UserFactory(email="b@b.io"))
    admin = WorkspaceFactory(name="Admin", created_by=UserFactory(email="c@c.io"))

    assert again.slug.startswith("northwind-")
    assert admin.slug == "admin-workspace"


def test_an_admin_sees_the_settings_but_cannot_change_them(client, workspace, admin_user):
    client.force_login(admin_user)
    before = _state(workspace)

    page = client.get(_settings_url(workspace))
    refused = client.post(_settings_url(workspace), {"name": "Taken over", "slug": "mine"})

    assert page.status_code == 200
    assert 'value="Northwind"' in page.text
    assert "disabled" in page.text
    assert ">Save</button>" not in page.text
    assert refused.status_code == 403
    assert "Only the workspace&#x27;s owners can change its settings." in refused.text
    assert _state(workspace) == before


def test_a_member_is_refused_the_settings_and_the_delete_page(client, workspace, member_user):
    client.force_login(member_user)
    before = _state(workspace)

    for response in (
        client.get(_settings_url(workspace)),
        client.post(_settings_url(workspace), {"name": "X", "slug": "xyz"}),
        client.get(_delete_url(workspace)),
        client.post(_delete_url(workspace), {"confirmation": workspace.slug}),
    ):
        assert response.status_code == 403
        assert "Only owners and admins of this workspace can see its settings." in response.text
    assert _state(workspace) == before
    assert f'href="{_settings_url(workspace)}"' not in client.get(f"/w/{workspace.slug}/").text


def test_owners_and_admins_find_the_settings_in_the_navigation(client, workspace, admin_user):
    client.force_login(admin_user)

    html = client.get(f"/w/{workspace.slug}/members/").text

    assert re.search(
        rf'<a [^>]*href="{re.escape(_settings_url(workspace))}"[^>]*>Settings</a>', html
    )


# Deleting ----------------------------------------------------------------------------------


def test_deleting_asks_first_then_removes_access_keys_and_invitations(
    client, owner_client, workspace, owner, member_user
):
    _, raw_key = services.api_key_create(workspace=workspace, name="Backend", actor=owner)
    services.invitation_create(workspace=workspace, email="dana@northwind.io", actor=owner)
    services.workspace_update(workspace=workspace, actor=owner, name="Northwind", slug="nw-hq")
    workspace.refresh_from_db()

    page = owner_client.get(_delete_url(workspace))
    wrong = owner_client.post(_delete_url(workspace), {"confirmation": "Northwind"})

    assert page.status_code == 200
    assert "there is no paid subscription to cancel" in page.text
    assert "A paid subscription must be canceled before the workspace can be deleted" in page.text
    assert wrong.status_code == 400
    assert "Type the workspace&#x27;s address, nw-hq, to confirm." in wrong.text
    assert Workspace.objects.get(pk=workspace.pk).deleted_at is None

    response = owner_client.post(_delete_url(workspace), {"confirmation": " NW-HQ "})

    assert response.status_code == 302
    assert response.url == "/"
    workspace.refresh_from_db()
    assert workspace.deleted_at is not None
    assert not Membership.objects.filter(workspace=workspace).exists()
    assert not ApiKey.objects.filter(workspace=workspace, revoked_at=None).exists()
    assert not Invitation.objects.filter(workspace=workspace, revoked_at=None).exists()
    assert not WorkspaceFormerSlug.objects.exists()
    event = AuditEvent.objects.get(action=AuditEvent.Action.WORKSPACE_DELETED)
    assert event.before == {"name": "Northwind", "slug": "nw-hq", "members": 2}
    assert "Northwind was deleted." in owner_client.get("/").text
    for path in ("/w/nw-hq/", "/w/northwind/", "/w/nw-hq/settings/"):
        assert owner_client.get(path).status_code == 404
    client.force_login(member_user)
    assert client.get("/w/nw-hq/members/").status_code == 404
    api = client.get("/api/v1/workspace", HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert api.status_code == 401
    # Its addresses are free again.
    other = WorkspaceFactory(name="Other", created_by=UserFactory(email="o@o.io"))
    services.workspace_update(workspace=other, actor=other.created_by, name="Other", slug="nw-hq")


def test_an_admin_reads_what_deleting_does_but_cannot_delete(client, workspace, admin_user):
    client.force_login(admin_user)

    page = client.get(_delete_url(workspace))
    refused = client.post(_delete_url(workspace), {"confirmation": workspace.slug})

    assert page.status_code == 200
    assert "Only owners can delete the workspace." in page.text
    assert 'id="delete-workspace"' not in page.text
    assert refused.status_code == 403
    assert Workspace.objects.get(pk=workspace.pk).deleted_at is None


def test_a_paid_workspace_is_deleted_only_once_canceled_and_is_never_billed_again(
    owner_client, workspace, owner
):
    no_trial("pro")
    subscription = subscribe(workspace, seats=3)
    before = _state(workspace)

    page = owner_client.get(_delete_url(workspace))
    refused = owner_client.post(_delete_url(workspace), {"confirmation": workspace.slug})

    assert "pays for the Pro plan: cancel the subscription on the billing page first" in page.text
    assert 'id="delete-workspace"' not in page.text
    assert f'href="/w/{workspace.slug}/billing/"' in page.text
    assert refused.status_code == 409
    assert "cancel the subscription on the billing page first" in refused.text
    assert _state(workspace) == before

    billing_services.subscription_cancel(
        workspace=workspace, reason="unused", comment="", actor=owner
    )
    deliver()
    page = owner_client.get(_delete_url(workspace))
    assert "The Pro subscription is canceled and ends on" in page.text
    response = owner_client.post(_delete_url(workspace), {"confirmation": workspace.slug})
    assert response.status_code == 302
    invoices = Invoice.objects.filter(workspace=workspace).count()

    # The period runs out: the subscription ends and nothing more is charged.
    LocalGateway().clock_advance(subscription_id=subscription.stripe_subscription_id)
    deliver()

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.CANCELED
    assert subscription.mrr_cents == 0
    assert Invoice.objects.filter(workspace=workspace).count() == invoices
    live = LocalGateway().subscription_retrieve(subscription.stripe_subscription_id)
    assert live["status"] == "canceled"


def test_a_workspace_whose_payment_failed_cannot_be_deleted(owner_client, workspace):
    no_trial("pro")
    subscribe(workspace, seats=2, card=CARD_FAILS)
    before = _state(workspace)

    response = owner_client.post(_delete_url(workspace), {"confirmation": workspace.slug})

    assert response.status_code == 409
    assert "The last payment for the Pro plan failed" in response.text
    assert _state(workspace) == before


# A second workspace and the switcher -------------------------------------------------------


def test_a_user_creates_a_second_workspace_which_they_own(owner_client, workspace, owner):
    form = owner_client.get("/workspaces/new/")
    response = owner_client.post("/workspaces/new/", {"name": "Side Project", "time_zone": ""})

    assert form.status_code == 200
    second = Workspace.objects.get(name="Side Project")
    assert response.status_code == 302
    assert response.url == f"/w/{second.slug}/"
    assert Membership.objects.get(workspace=second).user == owner
    assert Membership.objects.get(workspace=second).role == Role.OWNER
    assert second.subscription.plan.code == "free"
    home = owner_client.get("/").text
    assert "Northwind" in home
    assert "Side Project" in home


def test_a_new_workspace_needs_a_name_and_a_real_time_zone(owner_client, owner):
    blank = owner_client.post("/workspaces/new/", {"name": "  "})
    bad_zone = owner_client.post("/workspaces/new/", {"name": "X", "time_zone": "Mars/Base"})

    assert blank.status_code == 400
    assert "This field is required." in blank.text
    assert bad_zone.status_code == 400
    assert "“Mars/Base” is not a known time zone." in bad_zone.text
    assert Membership.objects.filter(user=owner).count() == 0


def test_a_new_workspace_needs_a_log_in(client):
    response = client.get("/workspaces/new/")

    assert response.status_code == 302
    assert response.url.startswith("/login/")


def test_the_switcher_lists_the_users_workspaces_and_marks_the_current_one(
    owner_client, workspace, owner, other_workspace
):
    second = WorkspaceFactory(name="Side Project", created_by=owner)

    html = owner_client.get(f"/w/{workspace.slug}/members/").text

    switcher = re.search(r'<details class="workspace-switcher".*?</details>', html, re.S).group(0)
    assert f'<a href="/w/{workspace.slug}/" aria-current="page">' in switcher
    assert f'<a href="/w/{second.slug}/">Side Project</a>' in switcher
    assert 'href="/workspaces/new/"' in switcher
    assert other_workspace.name not in switcher


def test_the_switcher_reuses_the_tenancy_lookup_and_asks_no_query_of_its_own(
    owner_client, workspace, owner
):
    WorkspaceFactory(name="Side Project", created_by=owner)
    owner_client.get(f"/w/{workspace.slug}/members/")

    with CaptureQueriesContext(connection) as captured:
        html = owner_client.get(f"/w/{workspace.slug}/members/").text

    assert "Side Project" in html
    reads_of_my_memberships = [
        q["sql"] for q in captured if 'WHERE "accounts_membership"."user_id" =' in q["sql"]
    ]
    assert len(reads_of_my_memberships) == 1


def test_a_member_of_one_workspace_sees_only_that_one_and_the_way_to_make_another(
    client, workspace, member_user
):
    client.force_login(member_user)

    html = client.get(f"/w/{workspace.slug}/").text

    switcher = re.search(r'<details class="workspace-switcher".*?</details>', html, re.S).group(0)
    assert switcher.count('aria-current="page"') == 1
    assert 'href="/workspaces/new/"' in switcher
