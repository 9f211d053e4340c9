"""Endpoint URLs cannot reach internal services: outside DEBUG only https to public
addresses, checked when saved and again when sending (the host is resolved each time)."""

import pytest
from django.urls import reverse

from outbound import services
from outbound.addresses import UnsafeAddress, url_check
from outbound.models import Delivery, Endpoint
from tests.pql.conftest import open_leads

pytestmark = pytest.mark.django_db

REFUSED = [
    ("https://127.0.0.1/hook", "loopback"),
    ("https://localhost:8443/hook", "loopback"),
    ("https://[::1]/hook", "loopback"),
    ("https://[::ffff:127.0.0.1]/hook", "loopback"),
    ("https://10.1.2.3/hook", "private"),
    ("https://172.16.0.9/hook", "private"),
    ("https://192.168.1.20/hook", "private"),
    ("https://[fd00::1]/hook", "private"),
    ("https://169.254.169.254/latest/meta-data", "link-local (cloud metadata)"),
    ("https://[fe80::1]/hook", "link-local"),
    ("https://100.64.0.1/hook", "shared address space"),
    ("https://0.0.0.0/hook", "unspecified"),
    ("https://240.0.0.1/hook", "reserved"),
    ("https://224.0.0.1/hook", "multicast"),
]


@pytest.mark.parametrize(("url", "kind"), REFUSED, ids=[kind for _, kind in REFUSED])
def test_a_private_loopback_or_reserved_address_is_refused_outside_debug(url, kind):
    with pytest.raises(UnsafeAddress, match="private, loopback or reserved address"):
        url_check(url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://93.184.215.14/hook", "must start with https://"),
        ("ftp://93.184.215.14/hook", "must start with https://"),
        ("https:///hook", "needs a host name"),
        ("https://user:secret@93.184.215.14/hook", "user name and password"),
        ("", "Enter the endpoint's URL"),
        ("https://no-such-host.invalid/hook", "could not be found"),
    ],
)
def test_a_url_without_https_a_host_or_with_credentials_is_refused(url, message):
    with pytest.raises(UnsafeAddress, match=message):
        url_check(url)


def test_a_public_https_address_is_accepted():
    assert (
        url_check(" https://93.184.215.14:8443/hooks?x=1 ")
        == "https://93.184.215.14:8443/hooks?x=1"
    )


def test_loopback_and_http_are_allowed_while_debug_is_on(settings):
    settings.DEBUG = True
    assert url_check("http://127.0.0.1:8123/hook") == "http://127.0.0.1:8123/hook"


def test_the_page_refuses_a_loopback_endpoint_with_a_400_naming_the_problem(client, manager):
    client.force_login(manager)
    response = client.post(
        reverse("outbound_endpoint_create"),
        {"url": "https://127.0.0.1/admin", "event_types": ["lead.opened"]},
    )
    assert response.status_code == 400
    assert "private, loopback or reserved address" in response.content.decode()
    assert not Endpoint.objects.exists()


def test_the_slack_url_is_checked_the_same_way(client, manager):
    client.force_login(manager)
    response = client.post(
        reverse("outbound_slack_save"), {"slack_url": "https://192.168.0.10/services/x"}
    )
    assert response.status_code == 400
    assert "private, loopback or reserved address" in response.content.decode()
    assert not Endpoint.objects.exists()


def test_an_endpoint_that_points_to_loopback_at_send_time_gets_nothing(
    settings, manager, receiver, django_capture_on_commit_callbacks
):
    settings.DEBUG = True  # saved while development mode allowed it…
    port = receiver.server.server_address[1]
    services.endpoint_create(
        actor=manager, url=f"https://127.0.0.1:{port}/hooks", event_types=["lead.opened"]
    )
    settings.DEBUG = False  # …and sent in production: checked again, refused.

    with django_capture_on_commit_callbacks(execute=True):
        open_leads(["Northwind"])

    assert receiver.received == []
    delivery = Delivery.objects.get()
    assert delivery.status == "pending"
    assert delivery.last_status_code is None
    assert "private, loopback or reserved address" in delivery.last_error
