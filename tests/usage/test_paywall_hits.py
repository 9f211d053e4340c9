"""A shown paywall is a buying signal recorded once per user, feature and day: reloading
the page does not inflate it (a GET records at most the first sighting of the day)."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from billing.limits import FeatureNotIncluded, feature_enforce
from tests.factories import UserFactory, WorkspaceFactory, add_member
from usage.models import ProductEvent


def _hits(workspace) -> list[tuple[str, dict]]:
    return list(
        ProductEvent.objects.filter(workspace=workspace, name="paywall_hit")
        .order_by("id")
        .values_list("user_email", "properties")
    )


@pytest.mark.django_db
def test_refreshing_the_audit_log_paywall_five_times_records_one_hit(owner_client, workspace):
    for _ in range(5):
        response = owner_client.get(f"/w/{workspace.slug}/audit-log/")
        assert response.status_code == 402
        assert 'id="paywall"' in response.text

    assert _hits(workspace) == [("owner@northwind.io", {"feature": "audit_log"})]


@pytest.mark.django_db
def test_another_user_seeing_the_paywall_records_another_hit(
    owner_client, client, workspace, admin_user
):
    owner_client.get(f"/w/{workspace.slug}/audit-log/")
    client.force_login(admin_user)
    client.get(f"/w/{workspace.slug}/audit-log/")
    client.get(f"/w/{workspace.slug}/audit-log/")

    assert sorted(email for email, _ in _hits(workspace)) == sorted(
        ["owner@northwind.io", admin_user.email]
    )


@pytest.mark.django_db
def test_the_same_paywall_the_next_day_records_another_hit(workspace):
    today = timezone.now()
    for now in (today, today, today + timedelta(days=1), today + timedelta(days=1, hours=1)):
        with pytest.raises(FeatureNotIncluded):
            feature_enforce(workspace, "audit_log", user_email="owner@northwind.io", now=now)

    assert len(_hits(workspace)) == 2


@pytest.mark.django_db
def test_another_feature_or_workspace_records_its_own_hit(workspace, other_workspace):
    for ws, feature in ((workspace, "audit_log"), (workspace, "sso"), (other_workspace, "sso")):
        with pytest.raises(FeatureNotIncluded):
            feature_enforce(ws, feature, user_email="owner@northwind.io")

    assert [props["feature"] for _, props in _hits(workspace)] == ["audit_log", "sso"]
    assert len(_hits(other_workspace)) == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_views_of_the_paywall_record_one_hit():
    owner = UserFactory(email="owner@race.io")
    workspace = WorkspaceFactory(name="Race", created_by=owner)
    admin = add_member(workspace, "admin@race.io", role="admin").user
    viewers = 12
    barrier = threading.Barrier(viewers)
    statuses: list[int] = []
    lock = threading.Lock()

    def view() -> None:
        browser = Client()
        browser.force_login(admin)
        try:
            barrier.wait()
            status = browser.get(f"/w/{workspace.slug}/audit-log/").status_code
        finally:
            connection.close()
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=view) for _ in range(viewers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [402] * viewers
    assert _hits(workspace) == [("admin@race.io", {"feature": "audit_log"})]
