"""The integrations pages: sales managers only; an endpoint's secret shown once; bad input a
4xx naming the problem with nothing stored; failures listed and redelivered."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, reverse

from outbound import sending, services, tasks
from outbound.models import Delivery, Endpoint
from outbound.urls import urlpatterns
from tests.outbound.conftest import ALL_TYPES
from tests.pql.conftest import open_leads

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint(settings, manager, receiver):
    settings.DEBUG = True
    endpoint, secret = services.endpoint_create(
        actor=manager, url=receiver.url, event_types=ALL_TYPES
    )
    receiver.secret = secret
    return endpoint


@pytest.fixture
def delivery(endpoint, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        open_leads(["Northwind"])
    return Delivery.objects.get()


def _urls(endpoint, delivery) -> list[tuple[str, str]]:
    kwargs = {"endpoint_id": endpoint.pk, "delivery_id": delivery.pk}
    found = []
    for pattern in urlpatterns:
        assert isinstance(pattern, URLPattern)
        names = re.findall(r"<int:(\w+)>", str(pattern.pattern))
        url = reverse(pattern.name, kwargs={name: kwargs[name] for name in names})
        method = "get" if pattern.name in GET_PAGES else "post"
        found.append((method, url))
    return found


GET_PAGES = {"outbound_integrations", "outbound_endpoint", "outbound_delivery"}


def test_anonymous_visitors_are_sent_to_log_in_on_every_page(client, endpoint, delivery):
    for method, url in _urls(endpoint, delivery):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


def test_reps_and_billing_admins_get_403_on_every_page_and_change_nothing(
    client, rep, billing_admin, endpoint, delivery
):
    for user in (rep, billing_admin):
        client.force_login(user)
        for method, url in _urls(endpoint, delivery):
            assert getattr(client, method)(url).status_code == 403, (user.email, url)
    assert Endpoint.objects.filter(pk=endpoint.pk).exists()
    assert Delivery.objects.count() == 1


def test_a_manager_sees_every_page(client, manager, endpoint, delivery):
    client.force_login(manager)
    for url in (
        reverse("outbound_integrations"),
        reverse("outbound_endpoint", args=[endpoint.pk]),
        reverse("outbound_delivery", args=[delivery.pk]),
    ):
        assert client.get(url).status_code == 200, url


def test_the_queue_settings_page_links_managers_to_the_integrations(client, manager):
    client.force_login(manager)
    page = client.get(reverse("sales_settings")).content.decode()
    assert reverse("outbound_integrations") in page


def test_a_manager_registers_an_endpoint_and_sees_its_secret_once(client, manager, settings):
    settings.DEBUG = True
    client.force_login(manager)

    response = client.post(
        reverse("outbound_endpoint_create"),
        {
            "url": "http://127.0.0.1:8999/crm",
            "description": "Our CRM",
            "event_types": ["lead.opened", "lead.won"],
        },
    )

    assert response.status_code == 201
    secret = re.search(r'value="(whsec_[\w-]+)"', response.content.decode()).group(1)
    endpoint = Endpoint.objects.get()
    assert endpoint.event_types == ["lead.opened", "lead.won"]
    assert endpoint.created_by == manager
    later = client.get(reverse("outbound_endpoint", args=[endpoint.pk])).content.decode()
    assert secret not in later
    assert f"…{secret[-4:]}" in later
    assert secret not in client.get(reverse("outbound_integrations")).content.decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"url": "https://93.184.215.14/x"}, "Choose at least one event type."),
        (
            {"url": "https://93.184.215.14/x", "event_types": ["lead.deleted"]},
            "Select a valid choice",
        ),
        ({"url": "", "event_types": ["lead.opened"]}, "This field is required."),
        ({"url": "http://93.184.215.14/x", "event_types": ["lead.opened"]}, "https://"),
        (
            {
                "url": "https://93.184.215.14/x",
                "event_types": ["lead.opened"],
                "description": "x" * 201,
            },
            "at most 200 characters",
        ),
    ],
)
def test_bad_input_answers_400_naming_the_problem_and_stores_nothing(
    client, manager, data, message
):
    client.force_login(manager)
    response = client.post(reverse("outbound_endpoint_create"), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Endpoint.objects.exists()


def test_the_service_refuses_an_unknown_event_type_by_name(manager):
    with pytest.raises(services.ApplicationError, match=r"“lead\.deleted” is not an event type"):
        services.endpoint_create(
            actor=manager, url="https://93.184.215.14/x", event_types=["lead.deleted"]
        )


def test_a_manager_sees_failures_and_redelivers_with_the_same_idempotency_id(
    client, manager, receiver, endpoint, django_capture_on_commit_callbacks
):
    receiver.statuses = [500] * sending.MAX_ATTEMPTS
    with django_capture_on_commit_callbacks(execute=True):
        open_leads(["Northwind"])
    failed = Delivery.objects.get()
    while failed.status == Delivery.Status.PENDING:
        tasks.deliveries_queue_due(now=failed.next_attempt_at)
        failed.refresh_from_db()
    client.force_login(manager)

    listing = client.get(reverse("outbound_integrations")).content.decode()
    assert "1 failed" in listing
    failures = client.get(reverse("outbound_endpoint", args=[endpoint.pk]), {"status": "failed"})
    assert f'href="{reverse("outbound_delivery", args=[failed.pk])}"' in failures.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("outbound_delivery_redeliver", args=[failed.pk]))

    again = Delivery.objects.exclude(pk=failed.pk).get()
    assert response.status_code == 302
    assert response["Location"] == reverse("outbound_delivery", args=[again.pk])
    assert (again.status, again.attempts, again.redelivery_of_id) == ("succeeded", 1, failed.pk)
    keys = {request.headers["Idempotency-Key"] for request in receiver.received}
    assert keys == {failed.event.public_id}
    assert len(receiver.received) == sending.MAX_ATTEMPTS + 1
    assert receiver.received[-1].signature_ok is True


def test_a_delivery_still_on_its_way_is_not_redelivered_twice(
    client, manager, receiver, endpoint, django_capture_on_commit_callbacks
):
    receiver.statuses = [500]
    with django_capture_on_commit_callbacks(execute=True):
        open_leads(["Northwind"])
    retrying = Delivery.objects.get()
    original = Delivery.objects.create(
        event=retrying.event,
        endpoint=endpoint,
        status=Delivery.Status.FAILED,
        created_at=retrying.created_at - timedelta(hours=1),
    )
    client.force_login(manager)

    response = client.post(reverse("outbound_delivery_redeliver", args=[original.pk]))

    assert response.status_code == 409
    assert "already on its way" in response.content.decode()
    assert Delivery.objects.count() == 2


def test_a_test_event_reaches_the_endpoint(
    client, manager, receiver, endpoint, django_capture_on_commit_callbacks
):
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("outbound_endpoint_ping", args=[endpoint.pk]))
    assert response.status_code == 302
    (request,) = receiver.received
    assert request.json["type"] == "ping"
    assert request.signature_ok is True


def test_turning_an_endpoint_off_stops_its_deliveries(
    client, manager, receiver, endpoint, django_capture_on_commit_callbacks
):
    client.force_login(manager)
    response = client.post(
        reverse("outbound_endpoint", args=[endpoint.pk]),
        {"url": endpoint.url, "event_types": ["lead.opened"], "description": ""},
    )
    assert response.status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        open_leads(["Northwind"])
    assert receiver.received == []
    assert not Delivery.objects.exists()


def test_deleting_an_endpoint_removes_it_and_its_history(client, manager, endpoint, delivery):
    client.force_login(manager)
    response = client.post(reverse("outbound_endpoint_delete", args=[endpoint.pk]))
    assert response.status_code == 302
    assert not Endpoint.objects.exists()
    assert not Delivery.objects.exists()


def test_the_integrations_page_takes_the_same_queries_for_one_endpoint_or_five(
    client, manager, settings, django_assert_num_queries
):
    settings.DEBUG = True
    client.force_login(manager)
    url = reverse("outbound_integrations")

    def make(count: int) -> None:
        for n in range(count):
            services.endpoint_create(
                actor=manager, url=f"http://127.0.0.1:9/{n}", event_types=["lead.won"]
            )

    make(1)
    client.get(url)
    with CaptureQueriesContext(connection) as one:
        client.get(url)
    make(4)
    with django_assert_num_queries(len(one.captured_queries)):
        client.get(url)


def test_the_slack_url_is_set_and_shown_masked(client, manager, settings):
    settings.DEBUG = True
    client.force_login(manager)
    url = "http://127.0.0.1:8999/services/T000/B000/XXXXsecretpart"

    response = client.post(reverse("outbound_slack_save"), {"slack_url": url})

    assert response.status_code == 302
    slack = Endpoint.objects.get(kind="slack")
    assert slack.event_types == ["lead.opened", "lead.sla_breached"]
    page = client.get(reverse("outbound_integrations")).content.decode()
    assert url not in page
    assert "http://127.0.0.1:8999/…part" in page
    assert client.post(reverse("outbound_slack_remove")).status_code == 302
    assert not Endpoint.objects.exists()
