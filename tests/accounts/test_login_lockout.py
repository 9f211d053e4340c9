"""Log-in brute force: django-axes locks an e-mail address out for one client address after
HANDOFF_LOGIN_FAILURE_LIMIT wrong passwords, on the site's log-in and the admin's."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

WRONG = "not-the-password"


def _log_in(client, email, password, *, path="/login/", **extra):
    return client.post(path, {"username": email, "password": password}, **extra)


def _fail(client, email, times, **extra):
    return [_log_in(client, email, WRONG, **extra).status_code for _ in range(times)]


def test_fifth_wrong_password_pauses_log_in_with_a_page_saying_until_when(client, owner):
    statuses = _fail(client, owner.email, 5)

    assert statuses == [200, 200, 200, 200, 429]
    response = _log_in(client, owner.email, PASSWORD)
    assert response.status_code == 429
    assert 14 * 60 < int(response["Retry-After"]) <= 15 * 60
    page = response.content.decode()
    assert "Log-in paused" in page
    assert "wrong 5 times in a row for owner@northwind.io" in page
    assert "try again in 15 minutes" in page
    assert "/password_reset/" in page
    assert "_auth_user_id" not in client.session


def test_the_pause_ends_after_the_cooloff_and_the_right_password_then_works(client, owner):
    _fail(client, owner.email, 5)
    # Sixteen minutes pass.
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16)
    )

    response = _log_in(client, owner.email, PASSWORD)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(owner.pk)


def test_retry_after_counts_down_from_the_failure_that_started_the_pause(client, owner):
    _fail(client, owner.email, 5)
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=10)
    )

    response = _log_in(client, owner.email, PASSWORD)

    assert response.status_code == 429
    assert 4 * 60 < int(response["Retry-After"]) <= 5 * 60
    assert "try again in 5 minutes" in response.content.decode()


def test_letter_case_of_the_address_does_not_reset_the_count(client, owner):
    statuses = [
        _log_in(client, email, WRONG).status_code
        for email in [
            "owner@northwind.io",
            "OWNER@northwind.io",
            "Owner@Northwind.io",
            "owner@NORTHWIND.IO",
            " owner@northwind.io",
        ]
    ]

    assert statuses[-1] == 429


def test_the_pause_holds_only_that_address_from_that_client(client, owner):
    other = UserFactory(email="other@northwind.io")
    _fail(client, owner.email, 5, REMOTE_ADDR="203.0.113.5")

    same_network_other_person = _log_in(client, other.email, PASSWORD, REMOTE_ADDR="203.0.113.5")
    assert same_network_other_person.status_code == 302
    client.post("/logout/")
    owner_elsewhere = _log_in(client, owner.email, PASSWORD, REMOTE_ADDR="198.51.100.7")
    assert owner_elsewhere.status_code == 302


def test_a_successful_log_in_forgets_earlier_failures(client, owner):
    _fail(client, owner.email, 4)
    assert _log_in(client, owner.email, PASSWORD).status_code == 302
    client.post("/logout/")

    assert _fail(client, owner.email, 4) == [200, 200, 200, 200]


def test_admin_log_in_is_paused_the_same_way(client):
    staff = UserFactory(email="staff@handoff.io", is_staff=True)

    statuses = _fail(client, staff.email, 5, path="/admin/login/")
    response = _log_in(client, staff.email, PASSWORD, path="/admin/login/")

    assert statuses[-1] == 429
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 14 * 60
    assert "Log-in paused" in response.content.decode()


def test_forged_x_forwarded_for_does_not_escape_the_count_without_a_proxy(client, owner):
    statuses = [
        _log_in(client, owner.email, WRONG, HTTP_X_FORWARDED_FOR=f"10.0.0.{n}").status_code
        for n in range(5)
    ]

    assert statuses[-1] == 429


def test_behind_one_proxy_the_client_is_the_last_forwarded_address(client, owner, settings):
    settings.HANDOFF_PROXY_COUNT = 1
    # The client forges the first entry; the proxy appends the address it saw.
    _fail(client, owner.email, 5, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.5")

    locked = _log_in(client, owner.email, PASSWORD, HTTP_X_FORWARDED_FOR="9.9.9.9, 203.0.113.5")
    other_client = _log_in(
        client, owner.email, PASSWORD, HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.7"
    )

    assert locked.status_code == 429
    assert other_client.status_code == 302


def test_limit_and_cooloff_follow_the_settings(client, owner, settings):
    settings.HANDOFF_LOGIN_FAILURE_LIMIT = 2
    settings.HANDOFF_LOGIN_COOLOFF_MINUTES = 3

    statuses = _fail(client, owner.email, 2)
    response = _log_in(client, owner.email, PASSWORD)

    assert statuses == [200, 429]
    assert 2 * 60 < int(response["Retry-After"]) <= 3 * 60
