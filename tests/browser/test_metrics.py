"""The growth metrics in a real browser: a billing admin opens /metrics/ on a small ledger,
follows a bar of the movements chart to the movements behind it, and the page fits a phone."""

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from accounts.roles import BILLING_ADMINS
from tests.browser.conftest import PHONE
from tests.factories import UserFactory
from tests.metrics.conftest import Ledger, at, paying, signed_up

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

RANGE = "/metrics/?from=2025-01&to=2025-05"


def _story() -> None:
    paying("Steady Co", at(2024, 1, 15), 20000)
    story = Ledger(signed_up("Story Ltd", at(2025, 1, 2)))
    story.move("new", 10000, at(2025, 1, 10)).move("expansion", 5000, at(2025, 2, 10))
    story.move("contraction", -3000, at(2025, 3, 10)).move("churn", -12000, at(2025, 4, 10))
    story.cancel(at(2025, 4, 1), "missing_features", "No SSO yet")
    story.move("reactivation", 8000, at(2025, 5, 10))


def _billing_admin():
    user = UserFactory(email="billing@handoff.test", is_staff=True)
    user.groups.add(Group.objects.get(name=BILLING_ADMINS))
    return user


def test_a_billing_admin_follows_a_bar_of_the_chart_to_its_movements(open_page):
    _story()
    page = open_page(RANGE, user=_billing_admin())
    expect(page.get_by_role("heading", name="Growth metrics")).to_be_visible()
    expect(page.locator("#fig-mrr-now")).to_contain_text("$280")

    page.locator('#content svg a[href*="month=2025-02"][href*="kind=expansion"] rect').click()
    page.wait_for_url("**/metrics/movements/**kind=expansion**")
    expect(page.get_by_role("heading", level=1)).to_have_text("Expansion movements, February 2025")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Story Ltd")
    expect(rows.first).to_contain_text("$50")

    page.get_by_role("link", name="← Growth metrics").click()
    page.get_by_role("link", name="Missing features").click()
    page.wait_for_url("**/metrics/cancellations/**reason=missing_features**")
    expect(page.locator("tbody")).to_contain_text("No SSO yet")
    expect(page.locator("tbody")).to_contain_text("Story Ltd")


def test_the_metrics_page_fits_a_phone(open_page):
    _story()
    page = open_page(RANGE, user=_billing_admin(), viewport=PHONE)
    expect(page.locator("#fig-mrr-now")).to_contain_text("$280")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width
