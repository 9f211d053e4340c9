"""Set-based reads of accounts for jobs over every workspace: pk-range chunks and profiles."""

from datetime import timedelta
from itertools import pairwise

import pytest
from django.utils import timezone

from accounts import services
from accounts.free_mail import FREE_MAIL_DOMAINS, is_free_mail
from accounts.models import Membership, Workspace
from accounts.selectors import workspace_pk_ranges, workspace_profiles, workspace_seats_used
from tests.factories import UserFactory, WorkspaceFactory, add_member, on_plan

pytestmark = pytest.mark.django_db


def _delete(workspace):
    services.workspace_delete(
        workspace=workspace, actor=workspace.created_by, confirmation=workspace.slug
    )


@pytest.mark.parametrize("size", [1, 2, 3, 7, 100])
def test_pk_ranges_cover_every_live_workspace_once_with_at_most_size_each(
    size, django_assert_num_queries
):
    made = [WorkspaceFactory(name=f"W{n}") for n in range(7)]
    _delete(made[2])
    _delete(made[5])
    live = sorted(
        w.pk for w in made if w.deleted_at is None and w.pk not in {made[2].pk, made[5].pk}
    )

    with django_assert_num_queries(1):
        ranges = workspace_pk_ranges(size=size)

    covered = [[pk for pk in live if start <= pk < end] for start, end in ranges]
    assert [pk for chunk in covered for pk in chunk] == live
    assert all(1 <= len(chunk) <= size for chunk in covered)
    assert all(end == next_start for (_, end), (next_start, _) in pairwise(ranges))


def test_pk_ranges_of_no_workspace_are_empty(db):
    assert workspace_pk_ranges(size=10) == []


def test_profiles_give_fit_and_team_facts_for_every_live_workspace(django_assert_num_queries):
    now = timezone.now()
    acme = services.workspace_create(
        name="Acme",
        owner=UserFactory(email="ann@acme.io"),
        signup_source={"utm_source": "newsletter"},
    )
    on_plan(acme, "pro")
    acme.team_size, acme.use_case = "11-50", "sales"
    acme.save(update_fields=["team_size", "use_case"])
    add_member(acme, "bob@acme.io")
    services.invitation_create(workspace=acme, email="cy@acme.io", actor=acme.created_by)
    services.invitation_create(
        workspace=acme, email="dee@acme.io", actor=acme.created_by, now=now - timedelta(days=40)
    )
    _, token = services.invitation_create(
        workspace=acme, email="eve@acme.io", actor=acme.created_by
    )
    services.invitation_accept(token=token, user=UserFactory(email="eve@acme.io"))
    solo = WorkspaceFactory(name="Solo", created_by=UserFactory(email="sam@gmail.com"))
    gone = WorkspaceFactory(name="Gone")
    _delete(gone)
    pk_from, pk_to = acme.pk, max(acme.pk, solo.pk, gone.pk) + 1
    now = timezone.now()  # profiles answer as of ``now``: everything above is before it

    with django_assert_num_queries(4):
        profiles = workspace_profiles(pk_from=pk_from, pk_to=pk_to, now=now)

    assert set(profiles) == {acme.pk, solo.pk}
    a = profiles[acme.pk]
    assert (a.name, a.company_domain, a.free_mail) == ("Acme", "acme.io", False)
    assert (a.team_size, a.use_case, a.signup_source) == (
        "11-50",
        "sales",
        {"utm_source": "newsletter"},
    )
    assert (a.members, a.seats_used) == (3, 4)  # ann, bob, eve; cy pending (dee expired)
    assert a.seats_used == workspace_seats_used(workspace_id=acme.pk, now=now)
    assert (a.invitations_sent_30d, a.invitations_accepted_30d) == (2, 1)
    assert a.created_at == Workspace.objects.get(pk=acme.pk).created_at
    s = profiles[solo.pk]
    assert (s.company_domain, s.free_mail, s.members, s.seats_used) == ("", True, 1, 1)
    assert (s.team_size, s.use_case, s.signup_source, s.activated_at) == ("", "", {}, None)


def test_the_free_mail_list_knows_the_common_providers_in_any_case():
    assert {"gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me"} <= FREE_MAIL_DOMAINS
    assert is_free_mail("GMail.com")
    assert not is_free_mail("acme.io")
    assert all(
        domain == domain.lower().strip() and "@" not in domain for domain in FREE_MAIL_DOMAINS
    )


def test_profiles_as_of_a_past_time_leave_out_what_came_later():
    before = timezone.now()
    acme = services.workspace_create(name="Acme", owner=UserFactory(email="ann@acme.io"))
    later = WorkspaceFactory(name="Later")
    on_plan(acme, "pro")
    add_member(acme, "bob@acme.io")
    services.invitation_create(workspace=acme, email="cy@acme.io", actor=acme.created_by)
    Workspace.objects.filter(pk=acme.pk).update(created_at=before - timedelta(days=1))
    Membership.objects.filter(workspace=acme, user__email="ann@acme.io").update(
        created_at=before - timedelta(days=1)
    )

    profiles = workspace_profiles(pk_from=acme.pk, pk_to=later.pk + 1, now=before)

    assert set(profiles) == {acme.pk}  # "Later" did not exist yet
    assert (profiles[acme.pk].members, profiles[acme.pk].invitations_sent_30d) == (1, 0)


def test_invitations_sent_count_at_most_the_daily_cap_a_day():
    acme = services.workspace_create(name="Acme", owner=UserFactory(email="ann@acme.io"))
    on_plan(acme, "business")
    for n in range(7):
        services.invitation_create(workspace=acme, email=f"p{n}@acme.io", actor=acme.created_by)

    now = timezone.now()
    capped = workspace_profiles(pk_from=acme.pk, pk_to=acme.pk + 1, now=now, daily_cap=5)
    uncapped = workspace_profiles(pk_from=acme.pk, pk_to=acme.pk + 1, now=now)

    assert capped[acme.pk].invitations_sent_30d == 5
    assert uncapped[acme.pk].invitations_sent_30d == 7
