"""The workspace's notices and Notifications page, each person's choices, the one-click
unsubscribe link and the staff page of the message templates."""

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.core.signing import Signer
from django.urls import reverse

from accounts.roles import BILLING_ADMINS
from notifications.models import Kind, Notification, OptOut
from notifications.unsubscribe import unsubscribe_path
from tests.factories import UserFactory
from tests.notifications.conftest import usage_event

pytestmark = pytest.mark.django_db


def _page(workspace) -> str:
    return reverse("workspace_notifications", kwargs={"workspace_slug": workspace.slug})


@pytest.fixture
def alerted(workspace, owner, admin_user, report):
    report([usage_event("big", 8_200)])
    return Notification.objects.get(recipient=owner, channel="in_app")


# In-app notices ---------------------------------------------------------------------------------


def test_an_owner_sees_the_alert_on_the_workspace_pages_until_dismissed(
    owner_client, workspace, alerted
):
    usage_page = reverse("workspace_usage", kwargs={"workspace_slug": workspace.slug})
    page = owner_client.get(usage_page).content.decode()
    assert f'id="notice-{alerted.pk}"' in page
    assert "Northwind has used 80% of its API calls limit" in page
    assert f'href="/w/{workspace.slug}/plan/">Upgrade to Pro</a>' in page

    response = owner_client.post(
        reverse("workspace_notice_dismiss", args=[workspace.slug, alerted.pk]),
        {"next": usage_page},
    )

    assert response.status_code == 302
    assert response.url == usage_page
    assert f'id="notice-{alerted.pk}"' not in owner_client.get(usage_page).content.decode()
    alerted.refresh_from_db()
    assert alerted.dismissed_at is not None


def test_a_page_seen_before_the_alert_shows_it_right_after(owner_client, workspace, owner, report):
    usage_page = reverse("workspace_usage", kwargs={"workspace_slug": workspace.slug})
    assert 'class="card paywall notice"' not in owner_client.get(usage_page).content.decode()

    report([usage_event("big", 8_200)])

    assert "Northwind has used 80% of its API calls limit" in (
        owner_client.get(usage_page).content.decode()
    )


def test_someone_elses_notice_cannot_be_dismissed(client, workspace, admin_user, alerted):
    client.force_login(admin_user)

    response = client.post(reverse("workspace_notice_dismiss", args=[workspace.slug, alerted.pk]))

    assert response.status_code == 404
    alerted.refresh_from_db()
    assert alerted.dismissed_at is None


def test_dismiss_goes_back_only_to_this_site(owner_client, workspace, alerted):
    response = owner_client.post(
        reverse("workspace_notice_dismiss", args=[workspace.slug, alerted.pk]),
        {"next": "https://evil.example/"},
    )

    assert response.url == _page(workspace)


# The Notifications page -------------------------------------------------------------------------


def test_the_page_lists_every_message_with_who_what_when_and_cause(
    owner_client, workspace, alerted, django_assert_max_num_queries
):
    with django_assert_max_num_queries(16):
        response = owner_client.get(_page(workspace))

    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('data-kind="usage_alert"') == 4  # owner and admin, e-mail and in-app
    assert "admin@northwind.io" in page
    assert "owner@northwind.io" in page
    assert "A usage batch took API calls to 8,200 of 10,000" in page
    assert 'id="kind-usage_alert" checked' in page


def test_members_are_refused_the_page(client, workspace, member_user):
    client.force_login(member_user)

    response = client.get(_page(workspace))

    assert response.status_code == 403
    assert "Only owners and admins" in response.content.decode()


def test_reading_the_page_writes_nothing(owner_client, workspace, alerted):
    before = list(Notification.objects.values_list("id", "dismissed_at", "sent_at"))

    owner_client.get(_page(workspace))
    owner_client.get(reverse("workspace_usage", kwargs={"workspace_slug": workspace.slug}))

    assert list(Notification.objects.values_list("id", "dismissed_at", "sent_at")) == before
    assert not OptOut.objects.exists()


def test_a_person_turns_a_kind_off_for_themselves_only(owner_client, workspace, owner, report):
    url = reverse("workspace_notification_preferences", args=[workspace.slug])

    response = owner_client.post(url, {"kinds": [Kind.TRIAL_ENDING, Kind.SUBSCRIPTION_CANCELED]})

    assert response.status_code == 302
    assert set(OptOut.objects.values_list("user__email", "kind")) == {
        ("owner@northwind.io", Kind.USAGE_ALERT),
        ("owner@northwind.io", Kind.SUBSCRIPTION_RESUMED),
    }
    assert (
        'id="kind-usage_alert" checked' not in owner_client.get(_page(workspace)).content.decode()
    )

    owner_client.post(url, {"kinds": [Kind.USAGE_ALERT]})
    assert Kind.USAGE_ALERT not in set(OptOut.objects.values_list("kind", flat=True))


def test_an_unknown_or_required_kind_is_refused_and_nothing_changes(owner_client, workspace):
    url = reverse("workspace_notification_preferences", args=[workspace.slug])

    for kinds in (["nonsense"], [Kind.USAGE_ALERT, Kind.PAYMENT_FAILED]):
        response = owner_client.post(url, {"kinds": kinds})
        assert response.status_code == 400
        assert "Unknown kind of message" in response.content.decode()

    assert not OptOut.objects.exists()


# Unsubscribe without logging in -------------------------------------------------------------------


def _unsubscribe_link(workspace, owner, report) -> str:
    report([usage_event("big", 8_200)])
    message = next(m for m in mail.outbox if m.to == [owner.email])
    line = next(line for line in message.body.splitlines() if "/notifications/unsubscribe/" in line)
    return line[line.index("/notifications/unsubscribe/") :]


def test_the_unsubscribe_link_confirms_on_get_and_unsubscribes_on_post(
    client, workspace, owner, report
):
    path = _unsubscribe_link(workspace, owner, report)

    page = client.get(path)
    assert page.status_code == 200
    assert "Stop receiving <strong>usage alerts</strong> about Northwind?" in page.content.decode()
    assert not OptOut.objects.exists()  # a GET never writes

    done = client.post(path)

    assert done.status_code == 200
    assert "you will no longer receive" in done.content.decode()
    assert list(OptOut.objects.values_list("user", "workspace", "kind")) == [
        (owner.pk, workspace.pk, Kind.USAGE_ALERT)
    ]
    assert client.post(path).status_code == 200  # twice: still one
    assert OptOut.objects.count() == 1


def test_a_tampered_unsubscribe_link_is_refused(client, workspace, owner, admin_user, report):
    path = _unsubscribe_link(workspace, owner, report)
    token = path.split("/")[-2]
    value, signature = token.rsplit(":", 1)
    # Someone edits the link to unsubscribe another person: the signature no longer matches.
    forged_value = value.replace(value[:2], "ey", 1)
    forged = [
        path.replace(token, f"{value}x:{signature}"),
        path.replace(token, f"{forged_value}:{'A' * len(signature)}"),
        path.replace(token, Signer(salt="elsewhere").sign("x")),
    ]

    for link in forged:
        response = client.post(link)
        assert response.status_code == 400
        assert "This unsubscribe link is not valid" in response.content.decode()
        assert client.get(link).status_code == 400

    assert not OptOut.objects.exists()


def test_a_link_for_a_required_kind_is_refused(client, workspace, owner):
    path = unsubscribe_path(user_id=owner.pk, workspace_id=workspace.pk, kind=Kind.PAYMENT_FAILED)

    assert client.post(path).status_code == 400
    assert not OptOut.objects.exists()


def test_after_unsubscribing_no_more_alerts_of_that_kind(
    client, workspace, owner, admin_user, report
):
    path = _unsubscribe_link(workspace, owner, report)
    client.post(path)
    mail.outbox.clear()

    report([usage_event("all", 1_800)])  # 100 %

    assert [m.to for m in mail.outbox] == [["admin@northwind.io"]]


# Templates and thresholds for billing admins ------------------------------------------------------


def test_billing_admins_read_every_template_rendered_with_sample_data(client):
    admin = UserFactory(email="billing@handoff.test", is_staff=True)
    admin.groups.add(Group.objects.get(name=BILLING_ADMINS))
    client.force_login(admin)

    page = client.get(reverse("notification_templates")).content.decode()

    for kind in Kind:
        assert f'id="template-{kind}"' in page
    assert "Northwind has used 80% of its API calls limit" in page
    assert "Payment failed for Northwind: update the card by December 11, 2026" in page


def test_the_templates_page_is_for_billing_admins_only(client, owner):
    client.force_login(owner)

    assert client.get(reverse("notification_templates")).status_code == 403


def test_billing_admins_edit_the_alert_thresholds_in_the_admin(client):
    from notifications.models import AlertThreshold

    admin = UserFactory(email="billing@handoff.test", is_staff=True)
    admin.groups.add(Group.objects.get(name=BILLING_ADMINS))
    client.force_login(admin)
    threshold = AlertThreshold.objects.get(percent=80)
    url = reverse("admin:notifications_alertthreshold_change", args=[threshold.pk])

    assert client.post(url, {"percent": 150, "is_active": "on"}).status_code == 200  # refused
    response = client.post(url, {"percent": 75, "is_active": "on"})

    assert response.status_code == 302
    assert sorted(AlertThreshold.objects.values_list("percent", flat=True)) == [75, 100]
