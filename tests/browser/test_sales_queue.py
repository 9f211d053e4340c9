"""The sales queue in a real browser: a rep logs in, filters, claims a lead, logs a contact,
adds a note and marks it won; a second rep sees it claimed; a workspace user is refused."""

import pytest
from playwright.sync_api import expect

from pql.models import Lead
from tests.browser.conftest import open_lead
from tests.factories import PASSWORD, WorkspaceFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_a_rep_works_a_lead_from_the_queue_to_won_and_a_second_rep_sees_it_claimed(
    open_page, scenario
):
    other = WorkspaceFactory(name="Contoso", created_by=scenario.owner)
    open_lead(other, engagement=40)
    page = open_page("/login/?next=/sales/")
    page.get_by_label("E-mail address").fill(scenario.rep.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/sales/")
    expect(page.locator("#queue")).to_contain_text("Contoso")

    page.get_by_label("Score from").fill("50")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**score_min=50**")
    rows = page.locator("#queue tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Northwind")

    rows.first.get_by_role("button", name="Claim Northwind").click()
    expect(rows.first).to_contain_text("You own Northwind now.")
    expect(rows.first.locator("td.owner")).to_have_text("You")
    assert Lead.objects.get(pk=scenario.lead_id).owner == scenario.rep

    second = open_page("/sales/", user=scenario.manager)
    row = second.locator(f"#lead-row-{scenario.lead_id}")
    expect(row.locator("td.owner")).to_have_text("rep@handoff.test")

    rows.first.get_by_role("link", name="Northwind").click()
    page.wait_for_url(f"**/sales/leads/{scenario.lead_id}/")
    contact = page.locator("#contact-form")
    contact.get_by_label("How").select_option("call")
    contact.get_by_label("Summary").fill("Spoke with Olivia about SSO")
    contact.get_by_role("button", name="Log contact").click()
    expect(page.locator(".messages")).to_contain_text("Contact logged.")
    note = page.locator("#note-form")
    note.get_by_label("Note").fill("Budget approved in Q3")
    note.get_by_role("button", name="Add note").click()
    expect(page.locator(".messages")).to_contain_text("Note added.")

    status = page.locator("#status-form")
    status.get_by_label("Move to").select_option("won")
    status.get_by_label("Reason").fill("Signed the annual plan")
    status.locator("summary").click()
    status.get_by_role("button", name="Yes, change it").click()
    expect(page.locator(".messages")).to_contain_text("Northwind is won.")
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("logged a contact by call: Spoke with Olivia about SSO")
    expect(timeline).to_contain_text("noted: Budget approved in Q3")
    expect(timeline).to_contain_text("moved it from contacted to won: Signed the annual plan")
    lead = Lead.objects.get(pk=scenario.lead_id)
    assert (lead.status, lead.won_via) == ("won", "sales")


def test_a_second_rep_claiming_a_claimed_lead_is_told_who_has_it(open_page, scenario):
    first = open_page("/sales/", user=scenario.rep)
    second = open_page("/sales/", user=scenario.manager)
    first.locator(f"#lead-row-{scenario.lead_id}").get_by_role("button", name="Claim").click()
    expect(first.locator(f"#lead-row-{scenario.lead_id} td.owner")).to_have_text("You")

    row = second.locator(f"#lead-row-{scenario.lead_id}")
    row.get_by_role("button", name="Claim").click()

    expect(row).to_contain_text("rep@handoff.test has already claimed this lead.")
    expect(row.locator("td.owner")).to_have_text("rep@handoff.test")


def test_a_workspace_user_cannot_open_the_queue(open_page, scenario):
    page = open_page("/sales/", user=scenario.owner)

    expect(page.locator("h1")).to_have_text("Not allowed")
    assert not page.locator("#queue").count()
