"""Members: roles, removal, the last-owner rule, read-only members."""

import threading

import pytest
from django.db import connection

from accounts import services
from accounts.errors import Conflict, PermissionDenied
from accounts.models import AuditEvent, Membership, Role
from tests.factories import add_member, on_plan

pytestmark = pytest.mark.django_db


def _roles(workspace) -> dict[str, str]:
    return dict(Membership.objects.filter(workspace=workspace).values_list("user__email", "role"))


def _role_url(workspace, membership) -> str:
    return f"/w/{workspace.slug}/members/{membership.pk}/role/"


def _remove_url(workspace, membership) -> str:
    return f"/w/{workspace.slug}/members/{membership.pk}/remove/"


def test_members_page_lists_members_and_shows_controls_to_owners(owner_client, workspace):
    add_member(workspace, "ann@northwind.io")

    response = owner_client.get(f"/w/{workspace.slug}/members/")

    assert response.status_code == 200
    assert "ann@northwind.io" in response.text
    assert "Invite a teammate" in response.text
    assert "pending invitations count towards your plan" in response.text


def test_members_see_the_members_page_read_only(client, workspace, member_user):
    client.force_login(member_user)

    response = client.get(f"/w/{workspace.slug}/members/")

    assert response.status_code == 200
    assert "owner@northwind.io" in response.text
    assert "Invite a teammate" not in response.text
    assert 'name="role"' not in response.text


def test_members_page_query_count_does_not_grow_with_members(
    owner_client, workspace, django_assert_max_num_queries
):
    on_plan(workspace, "business")
    for n in range(15):
        add_member(workspace, f"m{n}@northwind.io")
    services.invitation_create(workspace=workspace, email="inv@x.io", actor=workspace.created_by)

    with django_assert_max_num_queries(8):
        response = owner_client.get(f"/w/{workspace.slug}/members/")
    assert response.status_code == 200


def test_owner_changes_a_members_role(owner_client, workspace, member_user):
    membership = member_user.memberships.get()

    response = owner_client.post(_role_url(workspace, membership), {"role": "admin"})

    assert response.status_code == 302
    assert _roles(workspace)["member@northwind.io"] == "admin"
    event = AuditEvent.objects.filter(action=AuditEvent.Action.MEMBER_ROLE_CHANGED).get()
    assert (event.before, event.after, event.actor) == (
        {"role": "member"},
        {"role": "admin"},
        workspace.created_by,
    )


def test_demoting_the_last_owner_is_refused_and_changes_nothing(owner_client, workspace, owner):
    membership = owner.memberships.get()

    response = owner_client.post(_role_url(workspace, membership), {"role": "admin"})

    assert response.status_code == 409
    assert "at least one owner" in response.text
    assert _roles(workspace)["owner@northwind.io"] == "owner"


def test_the_last_owner_cannot_leave(owner_client, workspace, owner):
    response = owner_client.post(_remove_url(workspace, owner.memberships.get()))

    assert response.status_code == 409
    assert "at least one owner" in response.text
    assert Membership.objects.filter(user=owner).exists()


def test_an_owner_can_leave_once_there_is_another_owner(owner_client, workspace, owner):
    add_member(workspace, "co@northwind.io", role=Role.OWNER)

    response = owner_client.post(_remove_url(workspace, owner.memberships.get()))

    assert response.status_code == 302
    assert _roles(workspace) == {"co@northwind.io": "owner"}


def test_owner_removes_a_member(owner_client, workspace, member_user):
    response = owner_client.post(_remove_url(workspace, member_user.memberships.get()))

    assert response.status_code == 302
    assert "member@northwind.io" not in _roles(workspace)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.MEMBER_REMOVED).count() == 1


def test_a_member_can_leave(client, workspace, member_user):
    client.force_login(member_user)

    response = client.post(_remove_url(workspace, member_user.memberships.get()))

    assert response.status_code == 302
    assert "member@northwind.io" not in _roles(workspace)


@pytest.mark.parametrize(
    ("actor_role", "target_role", "new_role"),
    [
        ("admin", "owner", "member"),  # admins cannot demote owners
        ("admin", "member", "owner"),  # nor grant the owner role
        ("member", "member", "admin"),  # members change nothing
        ("member", "admin", "member"),
    ],
)
def test_role_changes_beyond_the_actors_role_are_refused(
    client, workspace, actor_role, target_role, new_role
):
    actor = add_member(workspace, "actor@northwind.io", role=actor_role).user
    target = add_member(workspace, "target@northwind.io", role=target_role)
    client.force_login(actor)
    before = _roles(workspace)

    response = client.post(_role_url(workspace, target), {"role": new_role})

    assert response.status_code == 403
    assert _roles(workspace) == before


@pytest.mark.parametrize(("actor_role", "target_role"), [("admin", "owner"), ("member", "member")])
def test_removals_beyond_the_actors_role_are_refused(client, workspace, actor_role, target_role):
    actor = add_member(workspace, "actor@northwind.io", role=actor_role).user
    target = add_member(workspace, "target@northwind.io", role=target_role)
    client.force_login(actor)
    before = _roles(workspace)

    response = client.post(_remove_url(workspace, target))

    assert response.status_code == 403
    assert _roles(workspace) == before


def test_admin_manages_members_and_admins(client, workspace, admin_user, member_user):
    client.force_login(admin_user)

    promoted = client.post(_role_url(workspace, member_user.memberships.get()), {"role": "admin"})

    assert promoted.status_code == 302
    assert _roles(workspace)["member@northwind.io"] == "admin"


def test_an_unknown_role_is_refused(owner_client, workspace, member_user):
    response = owner_client.post(
        _role_url(workspace, member_user.memberships.get()), {"role": "emperor"}
    )

    assert response.status_code == 400
    assert _roles(workspace)["member@northwind.io"] == "member"


def test_membership_create_refuses_an_existing_member(workspace, owner):
    with pytest.raises(Conflict, match="already a member"):
        services.membership_create(workspace=workspace, user=owner)

    assert Membership.objects.filter(workspace=workspace).count() == 1


def test_only_owners_grant_owner_through_the_service(workspace, admin_user, member_user):
    with pytest.raises(PermissionDenied):
        services.membership_change_role(
            membership=member_user.memberships.get(), role=Role.OWNER, actor=admin_user
        )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_owners_demoting_each_other_at_once_leave_one_owner(workspace, owner):
    other = add_member(workspace, "co@northwind.io", role=Role.OWNER)
    mine = owner.memberships.get()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def demote(target: Membership, actor) -> None:
        try:
            barrier.wait()
            services.membership_change_role(membership=target, role=Role.MEMBER, actor=actor)
            outcomes.append("demoted")
        except (Conflict, PermissionDenied) as exc:
            outcomes.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=demote, args=(other, owner)),
        threading.Thread(target=demote, args=(mine, other.user)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) in (["Conflict", "demoted"], ["PermissionDenied", "demoted"])
    assert Membership.objects.filter(workspace=workspace, role=Role.OWNER).count() == 1
