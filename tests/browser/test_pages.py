"""Every page, in a real browser: free of critical and serious axe-core findings, and no wider
than a 390 px phone, also when names are 100 characters long."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from tests.browser.conftest import PHONE, build_scenario

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

# Every page the browser tests visit: who looks at it, and its path ({workspace}, {checkout},
# {plan} and {lead} are filled from the scenario, see conftest.Scenario). One line per page.
PAGES = [
    ("anonymous", "/login/"),
    ("anonymous", "/signup/"),
    ("anonymous", "/password_reset/"),
    ("anonymous", "/pricing/"),
    ("anonymous", "/api/docs/"),
    ("owner", "/"),
    ("owner", "/w/{workspace}/"),
    ("owner", "/w/{workspace}/welcome/"),
    ("owner", "/w/{workspace}/members/"),
    ("owner", "/w/{workspace}/api-keys/"),
    ("owner", "/w/{workspace}/projects/"),
    ("owner", "/w/{workspace}/usage/"),
    ("owner", "/w/{workspace}/plan/"),
    ("owner", "/w/{workspace}/billing/"),
    ("owner", "/w/{workspace}/audit-log/"),
    ("owner", "/w/{workspace}/settings/"),
    ("owner", "/w/{workspace}/notifications/"),
    ("owner", "/w/{workspace}/settings/delete/"),
    ("owner", "/workspaces/new/"),
    ("owner", "/account/"),
    ("owner", "/pricing/?workspace={workspace}"),
    ("owner", "/billing/local/checkout/{checkout}/"),
    ("rep", "/"),
    ("rep", "/admin/"),
    ("rep", "/sales/"),
    ("rep", "/sales/leads/{lead}/"),
    ("manager", "/sales/"),
    ("manager", "/sales/settings/"),
    ("billing_admin", "/admin/"),
    ("billing_admin", "/notifications/templates/"),
    ("billing_admin", "/admin/billing/plan/{plan}/change/"),
    ("rep", "/metrics/"),
    ("billing_admin", "/metrics/"),
    ("billing_admin", "/metrics/movements/"),
    ("billing_admin", "/metrics/customers/"),
    ("billing_admin", "/metrics/workspaces/"),
    ("billing_admin", "/metrics/cancellations/"),
]

BLOCKING = ("critical", "serious")
SHOWN_NODES = 3  # elements shown per rule and page
AXE = Axe()


def _show(open_page, scenario, who: str, template: str, **options) -> tuple[str, Page]:
    path = scenario.path(template)
    page = open_page(path, user=scenario.user(who), **options)
    assert page.url.endswith(path), f"{who} asked for {path} and got {page.url}"
    return f"{path} as {who}", page


def _blocking_violations(page: Page) -> list[str]:
    """The critical and serious axe findings, one readable line per rule and element."""
    found = []
    for violation in AXE.run(page).response["violations"]:
        if violation["impact"] not in BLOCKING:
            continue
        found.append(f"  {violation['impact']} {violation['id']}: {violation['help']}")
        nodes = violation["nodes"]
        for node in nodes[:SHOWN_NODES]:
            summary = " ".join(node.get("failureSummary", "").split())
            found.append(f"    at {' '.join(map(str, node['target']))}: {summary[:300]}")
        if len(nodes) > SHOWN_NODES:
            found.append(f"    and {len(nodes) - SHOWN_NODES} more elements")
    return found


def test_every_page_is_free_of_critical_and_serious_axe_violations(open_page, scenario):
    report = []
    for who, template in PAGES:
        name, page = _show(open_page, scenario, who, template)
        if violations := _blocking_violations(page):
            report += [name, *violations]

    assert not report, "axe-core found critical or serious violations:\n" + "\n".join(report)


# A 100-character name with nowhere to break it: the worst a user can type.
LONG_NAME = ("Northwind" + "Traders" * 14)[:100]


def test_no_page_is_wider_than_a_390px_phone_even_with_100_character_names(open_page, live_site):
    scenario = build_scenario(
        workspace_name=LONG_NAME,
        teammate_email=f"{LONG_NAME.lower()}@northwind.io",
        invited_email=f"{LONG_NAME.lower()}@example.com",
        key_name=LONG_NAME,
        project_name=LONG_NAME,
    )
    assert len(scenario.workspace.name) == 100
    too_wide = []
    for who, template in PAGES:
        name, page = _show(open_page, scenario, who, template, viewport=PHONE)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            too_wide.append(f"  {name}: {width} px")
        # Phones get the same accessibility as desktops (e.g. a table that scrolls sideways
        # must be reachable by keyboard).
        if violations := _blocking_violations(page):
            too_wide += [f"  {name}, axe-core at {PHONE['width']} px:", *violations]

    assert not too_wide, f"Wider than {PHONE['width']} px, or inaccessible:\n" + "\n".join(too_wide)


def test_the_header_truncates_a_long_workspace_name_and_keeps_it_whole_in_a_title(
    open_page, live_site
):
    scenario = build_scenario(workspace_name=LONG_NAME)

    page = open_page(
        scenario.path("/w/{workspace}/audit-log/"), user=scenario.owner, viewport=PHONE
    )

    name = page.locator("header .workspace-name")
    assert name.get_attribute("title") == LONG_NAME
    assert _within_the_screen(name)
    # The workspace's links scroll inside their bar; the current one, last of them, is
    # brought into view.
    current = page.locator("nav.workspace [aria-current=page]")
    assert current.inner_text() == "Audit log"
    assert _within_the_screen(current)


def _within_the_screen(locator) -> bool:
    box = locator.bounding_box()
    assert box is not None
    return box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
