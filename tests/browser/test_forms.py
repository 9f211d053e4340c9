"""Forms in a real browser: a failed submit is announced and takes the focus, with and without
JavaScript; a skip link leads past the header."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_failed_submit_is_announced_focused_and_tied_to_its_fields(
    open_page, live_site, javascript
):
    page = open_page("/signup/", javascript=javascript)
    page.get_by_label("Email", exact=True).fill("not-an-address")

    page.get_by_role("button", name="Create my workspace").click()

    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("There is a problem")
    expect(summary).to_contain_text("Enter a valid email address.")
    expect(summary).to_be_focused()
    email = page.get_by_label("Email", exact=True)
    expect(email).to_have_attribute("aria-invalid", "true")
    # Every id that a field's aria-describedby names exists: its help text and its errors.
    described = page.evaluate(
        """[...document.querySelectorAll("[aria-describedby]")].flatMap(field =>
             field.getAttribute("aria-describedby").split(/\\s+/)
               .map(id => [field.id, id, document.getElementById(id)?.textContent.trim()]))"""
    )
    assert ["id_email", "id_email_error", "Enter a valid email address."] in described
    assert all(text for _, _, text in described), described
    # The summary links to the field in error.
    summary.get_by_role("link").first.click()
    expect(email).to_be_focused()


def test_the_skip_link_is_the_first_stop_and_leads_to_the_page_content(open_page, live_site):
    page = open_page("/pricing/")  # no field takes the focus on its own here

    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")

    expect(page.locator("main#content")).to_be_focused()
