"""The sign-up journey in a real browser: a campaign visit, sign-up, the optional questions,
and a checklist that starts with the step the answer asks for; "Skip" works too."""

import pytest
from playwright.sync_api import expect

from accounts.models import Workspace
from tests.browser.conftest import PHONE

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

PASSWORD = "tidal-orbit-sparrow-91"


def _sign_up(page, email: str) -> None:
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create my workspace").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Tell us about")


def test_a_campaign_sign_up_answers_the_questions_and_gets_its_checklist_order(
    open_page, live_site
):
    page = open_page("/signup/?utm_source=newsletter&utm_campaign=launch", viewport=PHONE)
    _sign_up(page, "ada@brightlane.io")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    page.get_by_label("11 to 50 people").check()
    page.get_by_label("Meter usage and enforce plan limits").check()
    page.get_by_role("button", name="Save and continue").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Get started with")
    steps = page.locator("ol.checklist li").evaluate_all("items => items.map(i => i.dataset.step)")
    assert steps[0] == "create_api_key"
    workspace = Workspace.objects.get()
    assert (workspace.team_size, workspace.use_case) == ("11-50", "metering")
    assert workspace.signup_source == {"utm_source": "newsletter", "utm_campaign": "launch"}


def test_skip_leaves_the_questions_unanswered_and_the_usual_order(open_page, live_site):
    page = open_page("/signup/")
    _sign_up(page, "kim@northpeak.com")

    page.get_by_role("button", name="Skip").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Get started with")
    steps = page.locator("ol.checklist li").evaluate_all("items => items.map(i => i.dataset.step)")
    assert steps == ["invite_teammate", "create_api_key", "first_usage_event"]
    assert Workspace.objects.get().use_case == ""
