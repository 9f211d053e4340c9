"""The content security policy in a real browser: pages whose scripts moved out of the page
still run them, and chromium reports nothing the policy would block (development mode sends
the policy report-only, so a violation is a console message, not a broken page)."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import _session_cookie
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _reloaded_with_console(page) -> list[str]:
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    page.reload()
    page.wait_for_load_state("networkidle")
    return messages


def _violations(messages: list[str]) -> list[str]:
    return [text for text in messages if "Content Security Policy" in text]


@pytest.mark.parametrize("path", ["/signup/", "/workspaces/new/"])
def test_a_new_account_or_workspace_starts_in_the_browser_s_time_zone(browser, live_site, path):
    context = browser.new_context(base_url=live_site.url, timezone_id="Asia/Tokyo")
    try:
        if path != "/signup/":
            user = UserFactory(email="tz@northwind.io")
            context.add_cookies([_session_cookie(user, live_site.url)])
        page = context.new_page()
        page.goto(path)
        page.wait_for_load_state("networkidle")

        messages = _reloaded_with_console(page)

        expect(page.locator("[name=time_zone]")).to_have_value("Asia/Tokyo")
        assert _violations(messages) == []
    finally:
        context.close()


def test_the_api_docs_page_starts_swagger_ui_without_inline_script(open_page, live_site):
    page = open_page("/api/docs/")

    messages = _reloaded_with_console(page)

    expect(page.get_by_role("heading", name="Handoff API")).to_be_visible()
    assert _violations(messages) == []
