"""The downgrade rule: what is over a lowered limit stays, read-only, until it fits."""

import pytest

from accounts import services
from accounts.models import Membership, Project
from billing.limits import LimitExceeded, limit_check
from tests.factories import add_member, on_plan
from usage.current import LimitStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def crowded(workspace):
    """A Pro workspace with 5 members and 4 projects, moved down to Free (3 and 3)."""
    on_plan(workspace, "pro")
    for n in range(4):
        add_member(workspace, f"m{n}@northwind.io")
        services.project_create(workspace=workspace, name=f"P{n}", actor=workspace.created_by)
    on_plan(workspace, "free")
    return workspace


def test_members_and_projects_over_the_new_limits_stay(crowded):
    assert Membership.objects.filter(workspace=crowded).count() == 5
    assert Project.objects.filter(workspace=crowded).count() == 4


def test_nothing_more_can_be_added_until_usage_fits(crowded):
    owner = crowded.created_by
    with pytest.raises(LimitExceeded, match="allows 3 seats"):
        services.invitation_create(workspace=crowded, email="new@x.io", actor=owner)
    with pytest.raises(LimitExceeded, match="allows 3 projects"):
        services.project_create(workspace=crowded, name="One more", actor=owner)

    assert limit_check(crowded, "seats", 1).status == LimitStatus.BLOCKED
    assert Project.objects.filter(workspace=crowded).count() == 4


def test_once_usage_fits_adding_works_again(crowded, owner):
    for membership in Membership.objects.filter(workspace=crowded).exclude(user=owner)[:3]:
        services.membership_remove(membership=membership, actor=owner)

    invitation, _ = services.invitation_create(workspace=crowded, email="new@x.io", actor=owner)

    assert invitation.pk is not None
    assert limit_check(crowded, "seats", 1).status == LimitStatus.BLOCKED  # 2 members + 1 pending


def test_the_plan_page_explains_the_rule_and_shows_what_is_over(owner_client, crowded):
    page = owner_client.get(f"/w/{crowded.slug}/plan/")

    assert "What is over the limit stays and is read-only" in page.text
    assert "5 of 3 seats" in page.text
    assert "4 of 3 projects" in page.text
