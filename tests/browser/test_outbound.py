"""Integrations in a real browser on a 390 px phone: a sales manager registers a webhook
endpoint, copies the secret shown once, sends a test event and sees it delivered; the local
receiver verifies the signature with the copied secret. The pages have no critical or
serious axe-core findings and never scroll sideways."""

import pytest
from playwright.sync_api import Page, expect

from outbound.models import Delivery
from tests.browser.conftest import PHONE
from tests.browser.test_pages import _blocking_violations
from tests.outbound.conftest import receiver  # noqa: F401 - the local webhook receiver
from tests.pql.conftest import staff

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _fits_the_phone(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width}px wide"
    assert _blocking_violations(page) == []


def test_a_manager_registers_an_endpoint_sees_the_secret_once_and_a_delivery(
    open_page,
    live_site,
    settings,
    receiver,  # noqa: F811
):
    settings.DEBUG = True  # the receiver listens on 127.0.0.1
    manager = staff("manager@handoff.test", "Sales", "Sales managers")
    page = open_page("/sales/settings/", user=manager, viewport=PHONE)
    page.get_by_role("link", name="Integrations: Slack and webhooks").click()
    page.wait_for_url("**/sales/integrations/")
    _fits_the_phone(page)

    page.get_by_label("Endpoint URL").fill(receiver.url)
    page.get_by_label("Description").fill("Our CRM, with a rather long description to wrap")
    page.get_by_label("Lead opened").check()
    page.get_by_label("Lead won").check()
    page.get_by_role("button", name="Add endpoint").click()

    expect(page.get_by_role("heading", name="Copy the signing secret now")).to_be_visible()
    secret = page.get_by_label("Signing secret").input_value()
    assert secret.startswith("whsec_")
    _fits_the_phone(page)
    receiver.secret = secret

    page.get_by_role("link", name="I have copied it").click()
    page.wait_for_url("**/sales/integrations/endpoints/*/")
    expect(page.get_by_role("heading", name="Deliveries")).to_be_visible()
    assert secret not in page.content()
    assert f"…{secret[-4:]}" in page.content()

    page.get_by_role("button", name="Send a test event").click()
    rows = page.locator("#deliveries tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Test event")
    expect(rows.first).to_contain_text("Delivered")
    expect(rows.first).to_contain_text("HTTP 200")
    _fits_the_phone(page)
    (request,) = receiver.received
    assert request.signature_ok is True
    assert request.json["type"] == "ping"

    rows.first.get_by_role("link", name="Test event").click()
    expect(page.get_by_text(request.json["id"], exact=True)).to_be_visible()
    _fits_the_phone(page)
    assert Delivery.objects.get().status == "succeeded"

    page.get_by_role("link", name="← Endpoint").click()
    page.get_by_text("Delete endpoint").click()
    page.get_by_role("button", name="Yes, delete").click()
    page.wait_for_url("**/sales/integrations/")
    expect(page.get_by_text("No endpoint yet.")).to_be_visible()
