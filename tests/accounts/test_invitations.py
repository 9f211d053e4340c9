"""Invitations: sending, accepting, resending, revoking, and every way one can't be used."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts import services
from accounts.errors import ApplicationError, Conflict
from accounts.models import Invitation, Membership, OnboardingStep, Role, User
from tests.factories import PASSWORD, UserFactory, add_member
from usage.models import ProductEvent

pytestmark = pytest.mark.django_db


def _invite(workspace, email="new@northwind.io", role=Role.MEMBER, **kwargs):
    return services.invitation_create(
        workspace=workspace, email=email, role=role, actor=workspace.created_by, **kwargs
    )


def _link_token(message) -> str:
    return re.search(r"/invitations/([\w-]+)/", message.body).group(1)


def _state(workspace) -> tuple:
    return (
        sorted(Membership.objects.filter(workspace=workspace).values_list("user__email", "role")),
        sorted(
            Invitation.objects.filter(workspace=workspace).values_list(
                "email", "role", "token_hash", "accepted_at", "revoked_at", "expires_at"
            )
        ),
        User.objects.count(),
    )


def test_inviting_sends_an_email_with_a_working_link_after_commit(
    owner_client, workspace, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            f"/w/{workspace.slug}/members/invite/",
            {"email": "Ann@Northwind.io", "role": "admin"},
        )
        assert mail.outbox == []  # nothing is sent before the invitation is committed

    assert response.status_code == 302
    invitation = Invitation.objects.get()
    assert (invitation.email, invitation.role) == ("ann@northwind.io", "admin")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ann@northwind.io"]
    assert "Join Northwind" in mail.outbox[0].subject
    token = _link_token(mail.outbox[0])
    assert invitation.token_hash != token  # only the hash is stored
    assert services.invitation_check(token=token) == invitation
    assert OnboardingStep.objects.filter(workspace=workspace, key="invite_teammate").exists()


def test_a_new_person_accepts_by_choosing_a_password(client, workspace):
    _, token = _invite(workspace, role=Role.ADMIN)

    page = client.get(f"/invitations/{token}/")
    assert page.status_code == 200
    assert "Create account and join" in page.text
    response = client.post(
        f"/invitations/{token}/", {"full_name": "Ann Lee", "password": "harbor-lantern-73"}
    )

    assert response.status_code == 302
    assert response["Location"] == f"/w/{workspace.slug}/"
    membership = Membership.objects.get(user__email="new@northwind.io")
    assert membership.role == Role.ADMIN
    assert membership.user.check_password("harbor-lantern-73")
    assert Invitation.objects.get().accepted_by == membership.user
    assert client.get(f"/w/{workspace.slug}/members/").status_code == 200  # logged in


def test_a_logged_in_invitee_joins_with_one_click(client, workspace):
    user = UserFactory(email="new@northwind.io")
    _, token = _invite(workspace)
    client.force_login(user)

    response = client.post(f"/invitations/{token}/")

    assert response.status_code == 302
    assert Membership.objects.filter(workspace=workspace, user=user, role="member").exists()


def test_an_invitee_with_an_account_is_asked_to_log_in_first(client, workspace):
    UserFactory(email="new@northwind.io")
    _, token = _invite(workspace)

    page = client.get(f"/invitations/{token}/")
    response = client.post(f"/invitations/{token}/", {"password": "whatever-long-99"})

    assert "Log in</a> to accept" in page.text
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")
    assert not Membership.objects.filter(user__email="new@northwind.io").exists()
    client.post("/login/", {"username": "new@northwind.io", "password": PASSWORD})
    assert client.post(f"/invitations/{token}/").status_code == 302
    assert Membership.objects.filter(user__email="new@northwind.io").exists()


def test_an_invitation_for_someone_else_cannot_be_accepted(client, workspace):
    _, token = _invite(workspace)
    client.force_login(UserFactory(email="intruder@evil.io"))
    before = _state(workspace)

    response = client.post(f"/invitations/{token}/")

    assert response.status_code == 403
    assert "This invitation is for new@northwind.io" in response.text
    assert _state(workspace) == before


def test_an_expired_invitation_is_refused(client, workspace):
    past = timezone.now() - timedelta(days=30)
    _, token = _invite(workspace, now=past)
    before = _state(workspace)

    response = client.post(f"/invitations/{token}/", {"password": "harbor-lantern-73"})

    assert response.status_code == 409
    assert "expired" in response.text
    assert _state(workspace) == before


def test_a_revoked_invitation_is_refused(client, owner_client, workspace):
    invitation, token = _invite(workspace)
    assert (
        owner_client.post(f"/w/{workspace.slug}/invitations/{invitation.pk}/revoke/").status_code
        == 302
    )
    before = _state(workspace)

    response = client.post(f"/invitations/{token}/", {"password": "harbor-lantern-73"})

    assert response.status_code == 409
    assert "revoked" in response.text
    assert _state(workspace) == before


def test_a_used_invitation_cannot_be_used_again(client, workspace):
    _, token = _invite(workspace)
    client.post(f"/invitations/{token}/", {"password": "harbor-lantern-73"})
    client.logout()
    before = _state(workspace)

    response = client.post(f"/invitations/{token}/", {"password": "harbor-lantern-73"})

    assert response.status_code == 409
    assert "already been used" in response.text
    assert _state(workspace) == before


def test_an_unknown_token_is_refused(client, db):
    response = client.get("/invitations/not-a-real-token/")

    assert response.status_code == 400
    assert "not valid" in response.text


def test_accepting_with_a_weak_password_is_refused_and_creates_nothing(client, workspace):
    _, token = _invite(workspace)
    before = _state(workspace)

    response = client.post(f"/invitations/{token}/", {"password": "123"})

    assert response.status_code == 400
    assert "too short" in response.text
    assert _state(workspace) == before


def test_inviting_an_existing_member_is_refused(
    owner_client, workspace, member_user, django_capture_on_commit_callbacks
):
    before = _state(workspace)

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            f"/w/{workspace.slug}/members/invite/",
            {"email": "MEMBER@northwind.io", "role": "member"},
        )

    assert response.status_code == 409
    assert "already a member" in response.text
    assert _state(workspace) == before
    assert mail.outbox == []


def test_accepting_when_already_a_member_is_refused(client, workspace):
    user = UserFactory(email="new@northwind.io")
    _, token = _invite(workspace)
    services.membership_create(workspace=workspace, user=user)
    client.force_login(user)
    before = _state(workspace)

    response = client.post(f"/invitations/{token}/")

    assert response.status_code == 409
    assert "already a member" in response.text
    assert _state(workspace) == before


def test_a_second_invitation_to_a_pending_address_is_refused(owner_client, workspace):
    _invite(workspace, email="new@northwind.io")
    before = _state(workspace)

    response = owner_client.post(
        f"/w/{workspace.slug}/members/invite/", {"email": "NEW@northwind.io", "role": "admin"}
    )

    assert response.status_code == 409
    assert "resend it instead" in response.text
    assert _state(workspace) == before


def test_inviting_an_address_whose_invitation_expired_renews_it(workspace):
    old, old_token = _invite(workspace, now=timezone.now() - timedelta(days=30))

    renewed, token = _invite(workspace, role=Role.ADMIN)

    assert renewed.pk == old.pk
    assert renewed.role == Role.ADMIN
    assert services.invitation_check(token=token) == renewed
    with pytest.raises(ApplicationError, match="not valid"):
        services.invitation_check(token=old_token)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"email": "not-an-email", "role": "member"}, "valid email"),
        ({"email": "x@y.io", "role": "overlord"}, "valid choice"),
        ({"role": "member"}, "required"),
    ],
)
def test_malformed_invitations_are_refused(owner_client, workspace, data, message):
    before = _state(workspace)

    response = owner_client.post(f"/w/{workspace.slug}/members/invite/", data)

    assert response.status_code == 400
    assert message in response.text.lower().replace("e-mail", "email")
    assert _state(workspace) == before


def test_members_cannot_invite(client, workspace, member_user):
    client.force_login(member_user)
    before = _state(workspace)

    response = client.post(
        f"/w/{workspace.slug}/members/invite/", {"email": "x@y.io", "role": "member"}
    )

    assert response.status_code == 403
    assert _state(workspace) == before


def test_admins_cannot_invite_owners(client, workspace, admin_user):
    client.force_login(admin_user)

    response = client.post(
        f"/w/{workspace.slug}/members/invite/", {"email": "x@y.io", "role": "owner"}
    )

    assert response.status_code == 403
    assert not Invitation.objects.exists()


def test_resend_mails_a_new_link_and_the_old_one_stops_working(
    owner_client, workspace, django_capture_on_commit_callbacks
):
    invitation, old_token = _invite(workspace)

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(f"/w/{workspace.slug}/invitations/{invitation.pk}/resend/")

    assert response.status_code == 302
    new_token = _link_token(mail.outbox[0])
    assert new_token != old_token
    assert services.invitation_check(token=new_token) == invitation
    with pytest.raises(ApplicationError):
        services.invitation_check(token=old_token)


def test_resending_or_revoking_a_closed_invitation_is_refused(owner_client, workspace):
    invitation, _ = _invite(workspace)
    services.invitation_revoke(invitation=invitation, actor=workspace.created_by)
    before = _state(workspace)

    resend = owner_client.post(f"/w/{workspace.slug}/invitations/{invitation.pk}/resend/")
    revoke = owner_client.post(f"/w/{workspace.slug}/invitations/{invitation.pk}/revoke/")

    assert (resend.status_code, revoke.status_code) == (409, 409)
    assert "already revoked" in resend.text
    assert _state(workspace) == before


def test_members_cannot_resend_or_revoke(client, workspace, member_user):
    invitation, _ = _invite(workspace)
    client.force_login(member_user)
    before = _state(workspace)

    assert (
        client.post(f"/w/{workspace.slug}/invitations/{invitation.pk}/resend/").status_code == 403
    )
    assert (
        client.post(f"/w/{workspace.slug}/invitations/{invitation.pk}/revoke/").status_code == 403
    )
    assert _state(workspace) == before


def test_the_invitation_task_skips_an_invitation_resent_since(workspace):
    from accounts.tasks import invitation_send

    invitation, old_token = _invite(workspace)
    services.invitation_resend(invitation=invitation, actor=workspace.created_by)
    mail.outbox.clear()

    assert invitation_send(invitation.pk, old_token) is False
    assert mail.outbox == []


def test_invitation_service_refuses_a_member_address_in_any_case(workspace):
    add_member(workspace, "ann@northwind.io")

    with pytest.raises(Conflict, match="already a member"):
        _invite(workspace, email="ANN@northwind.io")


def test_resending_an_expired_invitation_needs_a_free_seat(owner_client, workspace):
    expired, _ = _invite(workspace, email="a@northwind.io", now=timezone.now() - timedelta(days=30))
    _invite(workspace, email="b@northwind.io")
    _invite(workspace, email="c@northwind.io")  # owner + 2 pending = 3 of 3 seats
    before = _state(workspace)

    response = owner_client.post(f"/w/{workspace.slug}/invitations/{expired.pk}/resend/")

    assert response.status_code == 402
    assert _state(workspace) == before
    assert ProductEvent.objects.filter(name="paywall_hit").count() == 1
