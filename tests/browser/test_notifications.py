"""In a real browser at phone width: after usage crosses 80 % of a limit the owner sees the
alert on the workspace's pages, opens the Notifications page from the menu, finds the
message recorded there and turns usage alerts off for themselves."""

import pytest
from django.core import mail
from playwright.sync_api import expect

from accounts import services as accounts_services
from notifications.models import Kind, Notification, OptOut
from tests.browser.conftest import PHONE
from tests.factories import UserFactory, WorkspaceFactory
from tests.notifications.conftest import post_usage, usage_event

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_an_owner_sees_the_usage_alert_opens_notifications_and_turns_the_kind_off(
    open_page, live_site
):
    owner = UserFactory(email="owner@northwind.io", full_name="Olivia Owner")
    workspace = WorkspaceFactory(name="Northwind", created_by=owner)
    _, raw_key = accounts_services.api_key_create(workspace=workspace, name="k", actor=owner)
    assert post_usage(raw_key, [usage_event("big", 8_300)]).status_code == 200
    assert [m.to for m in mail.outbox] == [["owner@northwind.io"]]

    page = open_page(f"/w/{workspace.slug}/usage/", user=owner, viewport=PHONE)

    notice = page.get_by_role("status", name="Notice")
    expect(notice).to_contain_text("Northwind has used 80% of its API calls limit")
    expect(notice.get_by_role("link", name="Upgrade to Pro")).to_have_attribute(
        "href", f"/w/{workspace.slug}/plan/"
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    page.get_by_role("navigation", name="Workspace").get_by_role(
        "link", name="Notifications"
    ).click()
    expect(page.get_by_role("heading", name="Notifications", level=1)).to_be_visible()
    log = page.locator("#notification-log")
    expect(log).to_contain_text("A usage batch took API calls to 8,300 of 10,000")
    expect(log).to_contain_text("owner@northwind.io")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    usage_alerts = page.get_by_label("Usage alerts")
    expect(usage_alerts).to_be_checked()
    usage_alerts.uncheck()
    page.get_by_role("button", name="Save my choices").click()

    expect(page.get_by_role("status").filter(has_text="Your choices are saved.")).to_be_visible()
    expect(page.get_by_label("Usage alerts")).not_to_be_checked()
    expect(page.get_by_label("Trial ending")).to_be_checked()
    assert list(OptOut.objects.values_list("user__email", "kind")) == [
        ("owner@northwind.io", Kind.USAGE_ALERT)
    ]

    page.get_by_role(
        "button", name="Dismiss: Northwind has used 80% of its API calls limit"
    ).click()
    expect(page.get_by_role("status", name="Notice")).to_have_count(0)
    expect(page.get_by_role("heading", name="Notifications", level=1)).to_be_visible()
    assert Notification.objects.get(channel="in_app").dismissed_at is not None
