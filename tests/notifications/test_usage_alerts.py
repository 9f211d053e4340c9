"""Usage alerts: at each threshold of each effective limit, once per workspace, metric,
threshold and period, by e-mail and in the app, to the owners and admins who want them."""

import threading
from datetime import UTC, datetime

import pytest
from django.core import mail
from django.db import connection

from accounts import services as accounts_services
from billing import services as billing_services
from notifications.models import AlertThreshold, Kind, Notification, OptOut, UsageAlert
from notifications.services import notification_preferences_set, usage_alerts_raise
from tests.factories import UserFactory, WorkspaceFactory, add_member
from tests.notifications.conftest import post_usage, usage_event

pytestmark = pytest.mark.django_db

transactional = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def emails(kind: str = Kind.USAGE_ALERT) -> list[Notification]:
    return list(Notification.objects.filter(kind=kind, channel="email").order_by("recipient"))


def _this_month() -> datetime:
    return datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


# The required three ---------------------------------------------------------------------------


@transactional
def test_an_alert_fires_exactly_once_when_20_concurrent_batches_cross_80_percent_together(
    settings,
):
    settings.HANDOFF_API_RATE_PER_MINUTE = 10_000
    owner = UserFactory(email="owner@race.io")
    workspace = WorkspaceFactory(name="Race", created_by=owner)  # Free: 10,000 API calls
    add_member(workspace, "admin@race.io", role="admin")
    _, raw_key = accounts_services.api_key_create(workspace=workspace, name="k", actor=owner)
    assert post_usage(raw_key, [usage_event("warm-up", 7_999)]).status_code == 200
    assert not UsageAlert.objects.exists()
    mail.outbox.clear()
    threads_count = 20
    barrier = threading.Barrier(threads_count)
    statuses: list[int] = []

    def send(n: int) -> None:
        try:
            barrier.wait()
            statuses.append(post_usage(raw_key, [usage_event(f"batch-{n}", 1)]).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200] * threads_count
    alert = UsageAlert.objects.get()
    assert (alert.metric, alert.threshold, alert.period_start) == ("api_calls", 80, _this_month())
    assert sorted(m.to[0] for m in mail.outbox) == ["admin@race.io", "owner@race.io"]
    assert Notification.objects.filter(channel="email").count() == 2
    assert Notification.objects.filter(channel="in_app").count() == 2


@transactional
def test_20_threads_raising_the_same_alert_at_once_create_it_once():
    owner = UserFactory(email="owner@threads.io")
    workspace = WorkspaceFactory(name="Threads", created_by=owner)
    barrier = threading.Barrier(20)
    created: list[int] = []
    period = _this_month()

    def raise_alert(n: int) -> None:
        try:
            barrier.wait()
            alerts = usage_alerts_raise(
                workspace_id=workspace.pk,
                readings=[("api_calls", period, 8_000 + n)],
                cause=lambda name, used, limit: f"thread {n}",
            )
            created.append(len(alerts))
        finally:
            connection.close()

    threads = [threading.Thread(target=raise_alert, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(created) == [0] * 19 + [1]
    assert UsageAlert.objects.count() == 1
    assert len(mail.outbox) == 1
    assert Notification.objects.filter(recipient=owner).count() == 2  # e-mail and in-app


def test_retried_batches_send_nothing_new(workspace, report):
    batch = [usage_event(f"retry-{n}", 1_000) for n in range(8)]  # 8,000 of 10,000
    report(batch)
    assert len(mail.outbox) == 1

    report(batch)  # the same batch again: all duplicates
    report(batch[:3])
    report([usage_event("small", 1)])  # counted, still above 80 %, below 100 %

    assert UsageAlert.objects.count() == 1
    assert len(mail.outbox) == 1
    assert Notification.objects.count() == 2


def test_a_disabled_kind_sends_nothing(workspace, owner, admin_user, report):
    notification_preferences_set(user=owner, workspace=workspace, enabled=[Kind.TRIAL_ENDING])

    report([usage_event("big", 8_500)])

    assert UsageAlert.objects.count() == 1  # the crossing is recorded ...
    assert not Notification.objects.filter(recipient=owner).exists()  # ... nothing to the owner
    assert [m.to for m in mail.outbox] == [["admin@northwind.io"]]
    assert Notification.objects.filter(recipient=admin_user, channel="in_app").count() == 1


# What the message says ------------------------------------------------------------------------


def test_the_message_says_what_is_near_its_limit_when_it_resets_and_how_to_get_more(
    workspace, owner, report, settings
):
    settings.HANDOFF_SITE_URL = "https://handoff.example"
    report([usage_event("big", 8_012)])

    message = mail.outbox[0]
    assert message.to == ["owner@northwind.io"]
    assert message.subject == "Northwind has used 80% of its API calls limit"
    now = datetime.now(UTC)
    reset = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    assert (
        "8,012 of the 10,000 calls (API calls) its Free plan allows this month: 80% of the limit"
        in message.body
    )
    assert f"starts again from zero on {reset:%B} 1, {reset.year}." in message.body
    assert f"Upgrade to Pro: https://handoff.example/w/{workspace.slug}/plan/" in message.body
    notice = Notification.objects.get(channel="in_app")
    assert (notice.subject, notice.link, notice.link_label) == (
        message.subject,
        f"/w/{workspace.slug}/plan/",
        "Upgrade to Pro",
    )
    assert notice.cause == "A usage batch took API calls to 8,012 of 10,000"


def test_a_batch_past_both_thresholds_sends_one_message_for_the_limit_reached(workspace, report):
    report([usage_event("all", 10_000)])
    report([usage_event("more", 0)])

    assert sorted(UsageAlert.objects.values_list("threshold", flat=True)) == [80, 100]
    assert [m.subject for m in mail.outbox] == ["Northwind has reached its API calls limit"]
    assert "its Free plan allows this month: the limit is reached." in mail.outbox[0].body


def test_reaching_100_percent_after_80_sends_a_second_message(workspace, report):
    report([usage_event("a", 8_000)])
    report([usage_event("b", 2_000)])

    assert [m.subject for m in mail.outbox] == [
        "Northwind has used 80% of its API calls limit",
        "Northwind has reached its API calls limit",
    ]


def test_the_limit_is_the_effective_one_an_override_sets(workspace, report):
    billing_services.override_grant(
        workspace=workspace,
        actor=UserFactory(email="rep@handoff.test"),
        reason="a pilot",
        metric="api_calls",
        limit=100_000,
    )

    report([usage_event("a", 9_000)])  # 90 % of the plan's limit, 9 % of the override
    assert not UsageAlert.objects.exists()

    report([usage_event("b", 71_000)])
    assert UsageAlert.objects.get().limit == 100_000
    assert "Contact sales to raise it" in mail.outbox[0].body


def test_thresholds_are_the_ones_billing_admins_set(workspace, report):
    AlertThreshold.objects.filter(percent=80).update(is_active=False)
    AlertThreshold.objects.create(percent=50)

    report([usage_event("a", 5_000)])
    report([usage_event("b", 3_000)])

    assert list(UsageAlert.objects.values_list("threshold", flat=True)) == [50]
    assert mail.outbox[0].subject == "Northwind has used 50% of its API calls limit"


def test_projects_are_a_limit_too(workspace, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        for name in ("One", "Two"):
            accounts_services.project_create(workspace=workspace, name=name, actor=owner)
    assert not UsageAlert.objects.exists()  # 2 of 3

    with django_capture_on_commit_callbacks(execute=True):
        accounts_services.project_create(workspace=workspace, name="Three", actor=owner)

    assert sorted(UsageAlert.objects.values_list("threshold", flat=True)) == [80, 100]
    assert mail.outbox[0].subject == "Northwind has reached its Projects limit"
    assert "This limit does not reset" in mail.outbox[0].body
    assert Notification.objects.get(channel="in_app").cause == (
        "A new project took Projects to 3 of 3"
    )


def test_members_are_not_told_and_other_workspaces_are_untouched(
    workspace, member_user, other_workspace, report
):
    report([usage_event("a", 9_000)])

    assert not Notification.objects.filter(recipient=member_user).exists()
    assert not Notification.objects.filter(workspace=other_workspace).exists()
    assert not OptOut.objects.exists()
