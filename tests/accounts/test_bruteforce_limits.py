"""Brute force on password reset, invitation links and API keys: counted per client address
(and per e-mail address for resets) in the shared cache, refused with 429 and Retry-After
once over the limit, with an answer that says why."""

import re

import pytest
from django.core import mail

from accounts import ratelimit, services
from accounts.models import Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _reset(client, email, ip="203.0.113.5"):
    return client.post("/password_reset/", {"email": email}, REMOTE_ADDR=ip)


# Password reset -------------------------------------------------------------------------


def test_an_address_gets_three_reset_links_an_hour_and_then_the_same_page_without_mail(
    client, owner
):
    responses = [_reset(client, "owner@northwind.io", ip=f"198.51.100.{n}") for n in range(5)]

    assert [r.status_code for r in responses] == [302] * 5
    assert {r["Location"] for r in responses} == {"/password_reset/done/"}
    assert len(mail.outbox) == 3


def test_the_per_address_limit_counts_any_letter_case_as_one_address(client, owner):
    for email in [
        "owner@northwind.io",
        "OWNER@northwind.io",
        "Owner@Northwind.IO",
        "owner@NORTHWIND.io",
    ]:
        _reset(client, email)

    assert len(mail.outbox) == 3


def test_an_unknown_address_answers_exactly_as_a_known_one_also_past_the_limit(client, owner):
    known = [_reset(client, "owner@northwind.io", ip="198.51.100.1") for _ in range(4)]
    unknown = [_reset(client, "nobody@nowhere.io", ip="198.51.100.2") for _ in range(4)]

    assert [(r.status_code, r["Location"]) for r in known] == [
        (r.status_code, r["Location"]) for r in unknown
    ]
    assert {m.to[0] for m in mail.outbox} == {"owner@northwind.io"}


def test_one_client_asking_for_many_addresses_is_refused_after_ten_an_hour(client, db):
    for n in range(3):
        UserFactory(email=f"person{n}@northwind.io")

    statuses = [_reset(client, f"person{n % 3}-{n}@northwind.io").status_code for n in range(10)]
    refused = _reset(client, "person0@northwind.io")

    assert statuses == [302] * 10
    assert refused.status_code == 429
    assert 59 * 60 < int(refused["Retry-After"]) <= 60 * 60
    page = refused.content.decode()
    assert "Too many password resets" in page
    assert "try again in 60 minutes" in page
    assert mail.outbox == []
    # Another client is not held back by it.
    assert _reset(client, "person0@northwind.io", ip="198.51.100.9").status_code == 302
    assert len(mail.outbox) == 1


# Invitation links ------------------------------------------------------------------------


def _invite(workspace):
    return services.invitation_create(
        workspace=workspace, email="new@northwind.io", role=Role.MEMBER, actor=workspace.created_by
    )


def test_ten_unknown_invitation_links_from_one_client_pause_invitation_links_for_it(
    client, workspace
):
    _, token = _invite(workspace)

    statuses = [
        client.get(f"/invitations/guess-{n}/", REMOTE_ADDR="203.0.113.5").status_code
        for n in range(10)
    ]
    paused = client.get(f"/invitations/{token}/", REMOTE_ADDR="203.0.113.5")
    elsewhere = client.get(f"/invitations/{token}/", REMOTE_ADDR="198.51.100.7")

    assert statuses == [400] * 9 + [429]
    assert paused.status_code == 429
    assert 14 * 60 < int(paused["Retry-After"]) <= 15 * 60
    page = paused.content.decode()
    assert "Invitation links paused" in page
    assert "try again in 15 minutes" in page
    assert elsewhere.status_code == 200


def test_a_paused_client_cannot_accept_even_with_the_right_link(client, workspace):
    _, token = _invite(workspace)
    for n in range(10):
        client.get(f"/invitations/guess-{n}/")

    response = client.post(f"/invitations/{token}/", {"password": "harbor-lantern-73"})

    assert response.status_code == 429
    assert not workspace.memberships.filter(user__email="new@northwind.io").exists()


def test_expired_or_used_links_do_not_count_as_guesses(client, workspace):
    _, token = _invite(workspace)
    client.post(f"/invitations/{token}/", {"password": "harbor-lantern-73"})
    client.post("/logout/")

    statuses = {client.get(f"/invitations/{token}/").status_code for _ in range(12)}

    assert 429 not in statuses


# API keys -------------------------------------------------------------------------------


def _api(client, key, ip="203.0.113.5"):
    return client.get("/api/v1/workspace", HTTP_AUTHORIZATION=f"Bearer {key}", REMOTE_ADDR=ip)


def test_more_than_twenty_failed_keys_a_minute_from_one_client_get_429_naming_the_problem(
    client, workspace
):
    _, raw_key = services.api_key_create(workspace=workspace, name="k", actor=workspace.created_by)

    statuses = [_api(client, f"hk_guess{n}_wrong").status_code for n in range(20)]
    refused = _api(client, "hk_guess_wrong")
    right_key_same_client = _api(client, raw_key)
    other_client = _api(client, raw_key, ip="198.51.100.7")

    assert statuses == [401] * 20
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert "Too many failed API key authentications" in refused.json()["detail"]
    assert right_key_same_client.status_code == 429
    assert other_client.status_code == 200


def test_malformed_authorization_headers_count_as_failures(client, workspace):
    for _ in range(20):
        client.get("/api/v1/workspace", HTTP_AUTHORIZATION="Basic abc")

    assert _api(client, "hk_x_y", ip="127.0.0.1").status_code == 429


def test_the_failure_limit_follows_the_setting(client, workspace, settings):
    settings.HANDOFF_API_KEY_FAILURES_PER_MINUTE = 3

    statuses = [_api(client, "hk_a_b").status_code for _ in range(4)]

    assert statuses == [401, 401, 401, 429]


def test_requests_without_a_key_are_not_counted(client, workspace):
    for _ in range(30):
        client.get("/api/v1/workspace", REMOTE_ADDR="203.0.113.5")

    assert _api(client, "hk_a_b").status_code == 401


# Client address ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "1.2.3.4", "10.0.0.1"),
        (1, "1.2.3.4, 203.0.113.5", "203.0.113.5"),
        (2, "1.2.3.4, 203.0.113.5, 10.0.0.2", "203.0.113.5"),
        (2, "203.0.113.5", "10.0.0.1"),  # shorter than the proxy chain: not trusted
        (1, "", "10.0.0.1"),
    ],
)
def test_client_address_is_counted_from_the_end_of_x_forwarded_for(
    rf, settings, proxies, forwarded, expected
):
    settings.HANDOFF_PROXY_COUNT = proxies
    request = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)

    assert ratelimit.client_ip(request) == expected


def test_reset_link_in_the_mail_still_works_under_the_limit(client, owner):
    _reset(client, "owner@northwind.io")

    link = re.search(r"https?://[^/]+(/reset/\S+)", mail.outbox[0].body).group(1)
    assert client.get(link, follow=True).status_code == 200
