"""Destructive actions ask first, in a real browser, with and without JavaScript: the first
press only opens "Are you sure?"; nothing changes until the real button is pressed."""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from accounts.models import ApiKey, Invitation, Membership
from billing.models import Subscription
from tests.browser.conftest import Scenario

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@dataclass(frozen=True)
class Action:
    who: str
    path: str
    button: str  # the first press: opens the question
    confirm: str  # the real button
    question: str  # part of the question asked
    done: Callable[[Scenario], bool]  # whether the action happened
    prepare: Callable[[Page], None] = lambda page: None


def _cancel_reason(page: Page) -> None:
    page.get_by_label("Why are you cancelling?").select_option(index=1)


ACTIONS = {
    "remove a member": Action(
        who="owner",
        path="/w/{workspace}/members/",
        button="Remove ann@northwind.io",
        confirm="Yes, remove",
        question="Remove ann@northwind.io from Northwind?",
        done=lambda s: not Membership.objects.filter(pk=s.teammate.pk).exists(),
    ),
    "leave a workspace": Action(
        who="teammate",
        path="/w/{workspace}/members/",
        button="Leave Northwind",
        confirm="Yes, leave",
        question="Leave Northwind?",
        done=lambda s: not Membership.objects.filter(pk=s.teammate.pk).exists(),
    ),
    "revoke an invitation": Action(
        who="owner",
        path="/w/{workspace}/members/",
        button="Revoke bob@northwind.io",
        confirm="Yes, revoke",
        question="Revoke the invitation to bob@northwind.io?",
        done=lambda s: Invitation.objects.get(pk=s.invitation.pk).revoked_at is not None,
    ),
    "revoke an API key": Action(
        who="owner",
        path="/w/{workspace}/api-keys/",
        button="Revoke Production",
        confirm="Yes, revoke",
        question="Revoke Production?",
        done=lambda s: ApiKey.objects.get(pk=s.api_key.pk).revoked_at is not None,
    ),
    "cancel the subscription": Action(
        who="owner",
        path="/w/{workspace}/billing/",
        button="Cancel at period end",
        confirm="Yes, cancel at period end",
        question="Cancel Pro?",
        done=lambda s: Subscription.objects.get(workspace=s.workspace).cancel_at_period_end,
        prepare=_cancel_reason,
    ),
}
CASES = [(name, True) for name in ACTIONS] + [("remove a member", False)]


@pytest.mark.parametrize(
    ("action_name", "javascript"),
    CASES,
    ids=[f"{name}-{'js' if js else 'no-js'}" for name, js in CASES],
)
def test_a_destructive_action_asks_first_and_happens_only_once_confirmed(
    open_page, scenario, action_name, javascript
):
    action = ACTIONS[action_name]
    page = open_page(
        scenario.path(action.path), user=scenario.user(action.who), javascript=javascript
    )
    action.prepare(page)
    confirm = page.get_by_role("button", name=action.confirm, exact=True)
    expect(confirm).to_be_hidden()

    page.locator("summary", has_text=action.button).click()

    expect(confirm).to_be_visible()
    expect(page.get_by_text(action.question)).to_be_visible()
    assert not action.done(scenario), "the first press must only ask"

    confirm.click()

    expect(confirm).to_be_hidden()  # the answer to the request is shown
    assert action.done(scenario)
