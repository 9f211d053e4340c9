"""Self-serve sign-up, log-in, log-out and password reset."""

import re

import pytest
from django.core import mail

from accounts.models import AuditEvent, Membership, Role, User, Workspace
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

GOOD_PASSWORD = "tidal-orbit-sparrow-91"


def _counts() -> tuple[int, int, int, int]:
    return (
        User.objects.count(),
        Workspace.objects.count(),
        Membership.objects.count(),
        AuditEvent.objects.count(),
    )


def test_signup_creates_user_workspace_and_owner_membership_and_logs_in(client):
    response = client.post(
        "/signup/",
        {
            "email": "Ada@Brightlane.io",
            "password": GOOD_PASSWORD,
            "workspace_name": "Brightlane",
            "time_zone": "Europe/Paris",
        },
    )

    workspace = Workspace.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/w/{workspace.slug}/welcome/"
    user = User.objects.get()
    assert user.email == "ada@brightlane.io"
    assert user.check_password(GOOD_PASSWORD)
    assert workspace.name == "Brightlane"
    assert workspace.slug == "brightlane"
    assert workspace.company_domain == "brightlane.io"
    assert workspace.time_zone == "Europe/Paris"
    assert workspace.created_by == user
    assert Membership.objects.get().role == Role.OWNER
    onboarding = client.get(f"/w/{workspace.slug}/")
    assert onboarding.status_code == 200
    assert "Get started with Brightlane" in onboarding.text


def test_signup_without_workspace_name_names_it_after_the_company_domain(client):
    client.post("/signup/", {"email": "kim@northpeak.com", "password": GOOD_PASSWORD})

    workspace = Workspace.objects.get()
    assert workspace.name == "Northpeak"
    assert workspace.time_zone == "UTC"


def test_signup_with_personal_mail_keeps_company_domain_empty(client):
    client.post("/signup/", {"email": "kim@gmail.com", "password": GOOD_PASSWORD})

    assert Workspace.objects.get().company_domain == ""


def test_two_workspaces_with_the_same_name_get_distinct_slugs(client, owner):
    client.post("/signup/", {"email": "a@x.io", "password": GOOD_PASSWORD, "workspace_name": "X"})
    client.logout()
    client.post("/signup/", {"email": "b@y.io", "password": GOOD_PASSWORD, "workspace_name": "X"})

    slugs = set(Workspace.objects.values_list("slug", flat=True))
    assert len(slugs) == 2
    assert "x" in slugs


@pytest.mark.parametrize(
    ("data", "field", "message", "status"),
    [
        (
            {"email": "OWNER@Northwind.io", "password": GOOD_PASSWORD},
            "email",
            "already exists",
            409,
        ),
        ({"email": "new@northwind.io", "password": "short"}, "password", "too short", 400),
        ({"email": "new@northwind.io", "password": "password123"}, "password", "too common", 400),
        ({"email": "new@northwind.io", "password": "83749201938"}, "password", "numeric", 400),
        ({"email": "not-an-email", "password": GOOD_PASSWORD}, "email", "valid email", 400),
        ({"email": "", "password": GOOD_PASSWORD}, "email", "required", 400),
        (
            {"email": "new@northwind.io", "password": GOOD_PASSWORD, "time_zone": "Mars/Olympus"},
            None,
            "not a known time zone",
            400,
        ),
    ],
)
def test_bad_signup_is_refused_with_a_clear_message_and_changes_nothing(
    client, owner, data, field, message, status
):
    before = _counts()

    response = client.post("/signup/", data)

    assert response.status_code == status
    errors = response.context["form"].errors
    assert message in str(errors.get(field) or errors).lower()
    assert _counts() == before
    assert "_auth_user_id" not in client.session


def test_login_is_case_insensitive_and_lands_on_the_workspace(client, owner, workspace):
    response = client.post("/login/", {"username": "Owner@NorthWind.IO", "password": PASSWORD})

    assert response.status_code == 302
    assert client.get("/").status_code == 302
    assert client.get("/")["Location"] == f"/w/{workspace.slug}/"


def test_login_with_a_wrong_password_is_refused(client, owner):
    response = client.post("/login/", {"username": owner.email, "password": "nope-nope-nope"})

    assert response.status_code == 200
    assert "correct email address and password" in response.text.lower().replace("e-mail", "email")
    assert "_auth_user_id" not in client.session


def test_logout_ends_the_session(owner_client):
    response = owner_client.post("/logout/")

    assert response.status_code == 302
    assert "_auth_user_id" not in owner_client.session


def test_anonymous_visitor_of_a_workspace_page_is_sent_to_login(client, workspace):
    response = client.get(f"/w/{workspace.slug}/members/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_password_reset_mails_a_link_that_sets_a_new_password(client, owner):
    response = client.post("/password_reset/", {"email": "OWNER@northwind.io"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/reset/\S+)", mail.outbox[0].body).group(1)

    form_page = client.get(link, follow=True)
    set_url = form_page.redirect_chain[-1][0]
    done = client.post(set_url, {"new_password1": GOOD_PASSWORD, "new_password2": GOOD_PASSWORD})

    assert done.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password(GOOD_PASSWORD)


def test_password_reset_for_an_unknown_address_sends_nothing(client, db):
    client.post("/password_reset/", {"email": "nobody@nowhere.io"})

    assert mail.outbox == []


def test_users_email_is_unique_whatever_its_case_in_the_database(db):
    from django.db import IntegrityError, transaction

    UserFactory(email="dup@x.io")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.bulk_create([User(email="DUP@x.io")])
