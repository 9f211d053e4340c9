"""The profile page: a user's name and e-mail address (unique in any letter case, changed
only with the current password), and the way to the password change page."""

import re

import pytest

from accounts.models import AuditEvent, User
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

URL = "/account/"


def test_the_profile_page_shows_the_name_and_address_and_links_to_the_password_page(
    owner_client, owner
):
    html = owner_client.get(URL).text

    assert f'value="{owner.email}"' in html
    assert 'href="/password_change/"' in html
    assert owner_client.get("/password_change/").status_code == 200


def test_every_page_links_to_the_profile_from_the_users_address(owner_client, workspace, owner):
    html = owner_client.get(f"/w/{workspace.slug}/").text

    assert re.search(rf'<a [^>]*href="/account/"[^>]*>{re.escape(owner.email)}</a>', html)


def test_changing_the_name_needs_no_password(owner_client, owner):
    response = owner_client.post(URL, {"full_name": " Ada Lovelace ", "email": owner.email})

    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.full_name == "Ada Lovelace"
    assert "Your profile is saved." in owner_client.get(URL).text


def test_a_new_address_needs_the_current_password(client, owner_client, owner):
    missing = owner_client.post(URL, {"full_name": "", "email": "ada@northwind.io"})
    wrong = owner_client.post(
        URL, {"full_name": "", "email": "ada@northwind.io", "current_password": "nope"}
    )

    for response in (missing, wrong):
        assert response.status_code == 400
        assert "Enter your current password to change your e-mail address." in response.text
    assert User.objects.get(pk=owner.pk).email == "owner@northwind.io"

    response = owner_client.post(
        URL, {"full_name": "", "email": " Ada@Northwind.IO ", "current_password": PASSWORD}
    )

    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.email == "ada@northwind.io"
    assert owner_client.get(URL).status_code == 200  # still logged in
    event = AuditEvent.objects.get(action=AuditEvent.Action.USER_EMAIL_CHANGED)
    assert (event.actor, event.before, event.after) == (
        owner,
        {"email": "owner@northwind.io"},
        {"email": "ada@northwind.io"},
    )
    client.logout()
    assert client.login(email="ada@northwind.io", password=PASSWORD)
    assert not client.login(email="owner@northwind.io", password=PASSWORD)


def test_an_address_another_account_has_in_any_letter_case_is_refused(owner_client, owner):
    UserFactory(email="taken@northwind.io")

    response = owner_client.post(
        URL, {"full_name": "", "email": "TAKEN@northwind.io", "current_password": PASSWORD}
    )

    assert response.status_code == 409
    assert "Another account already uses this e-mail address." in response.text
    assert User.objects.get(pk=owner.pk).email == "owner@northwind.io"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"email": "not-an-address"}, "Enter a valid email address."),
        ({"email": ""}, "This field is required."),
        ({"email": "owner@northwind.io", "full_name": "x" * 151}, "at most 150 characters"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(owner_client, owner, data, error):
    before = (owner.email, owner.full_name)

    response = owner_client.post(URL, data)

    assert response.status_code == 400
    assert error in response.text
    owner.refresh_from_db()
    assert (owner.email, owner.full_name) == before


def test_the_profile_needs_a_log_in(client):
    response = client.get(URL)

    assert response.status_code == 302
    assert response.url.startswith("/login/")
