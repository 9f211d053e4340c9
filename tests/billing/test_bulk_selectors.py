"""``workspace_limits``: every workspace's effective limits in a few set-based queries,
agreeing with ``workspace_entitlements`` (the per-workspace answer the limit check uses)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services as accounts_services
from billing import entitlements
from billing import services as billing_services
from billing.selectors import workspace_limits
from billing.stripe.local import LocalGateway
from tests.billing.test_flows import CARD_FAILS, deliver, no_trial, subscribe
from tests.factories import UserFactory, WorkspaceFactory, add_member, on_plan

pytestmark = pytest.mark.django_db


def _grant(workspace, *, days: int | None = None, **kwargs):
    return billing_services.override_grant(
        workspace=workspace,
        actor=UserFactory(email="rep@handoff.test"),
        reason="pilot",
        expires_at=timezone.now() + timedelta(days=days) if days is not None else None,
        **kwargs,
    )


@pytest.fixture
def varied(db):
    """Free, paid per seat with seats paid, overrides (live, expiring, expired), past due,
    canceled and ended, on a sales-set plan, a demo workspace, and a deleted one."""
    no_trial("pro")
    made = {}
    made["free"] = WorkspaceFactory(name="Free")
    made["paid"] = WorkspaceFactory(name="Paid")
    subscribe(made["paid"], seats=7)
    made["overridden"] = WorkspaceFactory(name="Overridden")
    subscribe(made["overridden"], seats=2)
    _grant(made["overridden"], metric="seats", limit=12, days=10)
    _grant(made["overridden"], metric="projects", limit=None)
    _grant(made["overridden"], metric="projects", limit=80, days=20)  # later one wins
    made["free_overridden"] = WorkspaceFactory(name="Free overridden")
    _grant(made["free_overridden"], metric="api_calls", limit=5, days=3)
    _grant(made["free_overridden"], feature="sso", days=3)
    made["past_due"] = WorkspaceFactory(name="Past due")
    subscribe(made["past_due"], seats=4, card=CARD_FAILS)
    made["canceled"] = WorkspaceFactory(name="Canceled")
    subscription = subscribe(made["canceled"], seats=3)
    billing_services.subscription_cancel(
        workspace=made["canceled"], reason="unused", comment="", actor=made["canceled"].created_by
    )
    deliver()
    LocalGateway().clock_advance(
        subscription_id=subscription.stripe_subscription_id,
        to=subscription.current_period_end + timedelta(hours=1),
    )
    deliver()
    made["enterprise"] = on_plan(WorkspaceFactory(name="Enterprise"), "enterprise")
    made["demo"] = WorkspaceFactory(name="Demo")
    made["demo"].is_demo = True
    made["demo"].save(update_fields=["is_demo"])
    add_member(made["demo"], "x@demo.io")
    gone = WorkspaceFactory(name="Gone")
    accounts_services.workspace_delete(
        workspace=gone, actor=gone.created_by, confirmation=gone.slug
    )
    made["gone"] = gone
    return made


def _agrees(limits, now) -> None:
    entitlements.clear_local_cache()
    for workspace_id, row in limits.items():
        expected = entitlements.workspace_entitlements(workspace_id=workspace_id, now=now)
        assert row.plan_code == expected.plan.code, workspace_id
        assert row.tier_rank == expected.plan.tier_rank
        assert row.subscription_status == expected.subscription_status
        assert row.seats_paid == expected.seats_paid
        assert row.limits == {metric: spec.limit for metric, spec in expected.limits.items()}
        for metric, limit in row.limits.items():
            assert expected.limit(metric).limit == limit


@pytest.mark.parametrize("days_later", [0, 5, 15, 25, 45])
def test_workspace_limits_agree_with_workspace_entitlements_for_every_workspace(varied, days_later):
    now = timezone.now() + timedelta(days=days_later)
    pks = [w.pk for w in varied.values()]

    limits = workspace_limits(pk_from=min(pks), pk_to=max(pks) + 1, now=now)

    assert set(limits) == {w.pk for key, w in varied.items() if key != "gone"}
    _agrees(limits, now)


def test_workspace_limits_apply_seats_paid_overrides_and_the_grace_period(varied):
    now = timezone.now()
    pks = [w.pk for w in varied.values()]
    grace_over = now + timedelta(days=30)

    limits = workspace_limits(pk_from=min(pks), pk_to=max(pks) + 1, now=now)
    later = workspace_limits(pk_from=min(pks), pk_to=max(pks) + 1, now=grace_over)

    paid, overridden = limits[varied["paid"].pk], limits[varied["overridden"].pk]
    assert (paid.plan_code, paid.is_paid, paid.seats_paid, paid.limits["seats"]) == (
        "pro",
        True,
        7,
        7,
    )
    assert paid.mrr_cents > 0
    assert paid.currency == "usd"
    assert (overridden.seats_paid, overridden.limits["seats"]) == (2, 12)
    assert overridden.limits["projects"] == 80
    # The expiring overrides are over by then: the seats paid again, and the projects
    # override that never expires (unlimited) again.
    assert later[varied["overridden"].pk].limits["seats"] == 2
    assert later[varied["overridden"].pk].limits["projects"] is None
    assert limits[varied["free_overridden"].pk].limits["api_calls"] == 5
    past_due = limits[varied["past_due"].pk]
    assert (past_due.plan_code, past_due.subscription_status) == ("pro", "past_due")
    assert later[varied["past_due"].pk].plan_code == "free"
    canceled = limits[varied["canceled"].pk]
    assert (canceled.plan_code, canceled.is_paid, canceled.mrr_cents) == ("free", False, 0)
    free = limits[varied["free"].pk]
    assert (free.plan_code, free.is_paid, free.seats_paid, free.limits["seats"]) == (
        "free",
        False,
        None,
        3,
    )
    assert varied["gone"].pk not in limits


def test_workspace_limits_take_the_same_queries_whatever_the_number_of_workspaces(
    varied, django_assert_num_queries
):
    now = timezone.now()
    entitlements.catalog()  # the catalog is cached; warm it as a running job has
    pks = sorted(w.pk for w in varied.values())

    with django_assert_num_queries(3):
        one = workspace_limits(pk_from=pks[0], pk_to=pks[0] + 1, now=now)
    with django_assert_num_queries(3):
        every = workspace_limits(pk_from=pks[0], pk_to=pks[-1] + 1, now=now)

    assert len(one) == 1
    assert len(every) == len(pks) - 1
