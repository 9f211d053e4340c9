"""Staff roles: the "Sales" and "Billing admins" groups and what they open in the admin."""

import pytest
from django.contrib.auth.models import Group

from accounts.models import Workspace
from accounts.roles import BILLING_ADMINS, SALES
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _staff(email: str, *groups: str):
    user = UserFactory(email=email, is_staff=True)
    user.groups.add(*Group.objects.filter(name__in=groups))
    return user


def _accounts_permissions(group: str) -> set[str]:
    return set(
        Group.objects.get(name=group)
        .permissions.filter(content_type__app_label="accounts")
        .values_list("codename", flat=True)
    )


def test_the_migration_creates_both_groups_with_read_only_accounts_permissions():
    sales = _accounts_permissions(SALES)
    billing = _accounts_permissions(BILLING_ADMINS)

    assert {"view_workspace", "view_membership"} <= sales
    assert {"view_workspace", "view_auditevent"} <= billing
    assert not any(code.startswith(("change_", "delete_", "add_")) for code in sales | billing)


@pytest.mark.parametrize("group", [SALES, BILLING_ADMINS])
def test_staff_in_a_group_can_look_up_workspaces_read_only(client, workspace, group):
    client.force_login(_staff("staff@handoff.test", group))

    listing = client.get("/admin/accounts/workspace/")
    change = client.post(
        f"/admin/accounts/workspace/{workspace.pk}/change/",
        {"name": "Renamed", "slug": "renamed", "time_zone": "UTC"},
    )

    assert listing.status_code == 200
    assert "Northwind" in listing.text
    assert change.status_code == 403
    assert Workspace.objects.get(pk=workspace.pk).name == "Northwind"


def test_staff_without_a_group_cannot_reach_what_the_groups_guard(client, workspace):
    client.force_login(_staff("nogroup@handoff.test"))

    assert client.get("/admin/accounts/workspace/").status_code == 403
    assert client.get("/admin/accounts/auditevent/").status_code == 403


def test_sales_cannot_read_the_audit_log_billing_admins_can(client, workspace):
    client.force_login(_staff("sales@handoff.test", SALES))
    assert client.get("/admin/accounts/auditevent/").status_code == 403

    client.force_login(_staff("billing@handoff.test", BILLING_ADMINS))
    assert client.get("/admin/accounts/auditevent/").status_code == 200


def test_end_users_are_kept_out_of_the_admin(owner_client):
    response = owner_client.get("/admin/accounts/workspace/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
