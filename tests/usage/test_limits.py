"""The one limit check and the entitlements it reads: plans, seats paid, overrides, cache."""

from datetime import timedelta

import pytest
import redis
from django.core.cache import cache
from django.utils import timezone

from accounts import services as accounts_services
from billing import entitlements
from billing import services as billing_services
from billing.limits import feature_enforce, limit_check
from billing.models import Plan, PlanLimit, WorkspaceOverride
from tests.factories import UserFactory, add_member, on_plan
from usage import current
from usage.current import LimitStatus, limit_status, usage_current
from usage.models import ProductEvent

pytestmark = pytest.mark.django_db


def _grant(workspace, **kwargs):
    return billing_services.override_grant(
        workspace=workspace, actor=UserFactory(email="rep@handoff.test"), reason="trial", **kwargs
    )


def test_new_workspaces_start_on_the_default_free_plan(workspace):
    ent = entitlements.workspace_entitlements(workspace_id=workspace.pk)

    assert ent.plan.code == "free"
    assert ent.limit("seats").limit == 3
    assert ent.limit("projects").limit == 3
    assert not ent.has_feature("sso")


def test_check_allows_within_the_limit_and_blocks_beyond_a_hard_one(workspace):
    add_member(workspace, "b@northwind.io")

    within = limit_check(workspace, "seats", 1)
    beyond = limit_check(workspace, "seats", 2)

    assert (within.status, within.used, within.limit) == (LimitStatus.ALLOWED, 2, 3)
    assert beyond.status == LimitStatus.BLOCKED
    assert beyond.upgrade_plan.code == "pro"


def test_pending_invitations_hold_seats(workspace):
    accounts_services.invitation_create(
        workspace=workspace, email="a@b.io", actor=workspace.created_by
    )

    assert usage_current(workspace_id=workspace.pk, metric="seats") == 2


def test_expired_invitations_hold_no_seat(workspace):
    accounts_services.invitation_create(
        workspace=workspace,
        email="a@b.io",
        actor=workspace.created_by,
        now=timezone.now() - timedelta(days=30),
    )

    assert usage_current(workspace_id=workspace.pk, metric="seats") == 1


def test_a_soft_limit_allows_with_a_warning(workspace):
    PlanLimit.objects.filter(plan__code="free", metric="projects").update(enforcement="soft")
    entitlements.catalog_changed()  # .update() sends no signal

    result = limit_check(workspace, "projects", 4)

    assert result.status == LimitStatus.SOFT_EXCEEDED
    assert result.allowed


def test_unlimited_metrics_always_allow(workspace):
    on_plan(workspace, "enterprise")

    assert limit_check(workspace, "seats", 10_000).status == LimitStatus.ALLOWED


def test_the_cheapest_plan_that_allows_is_named(workspace):
    assert limit_check(workspace, "seats", 60).upgrade_plan.code == "business"
    assert limit_check(workspace, "seats", 600).upgrade_plan.code == "enterprise"


def test_an_override_replaces_the_plans_limit_until_it_expires(workspace):
    now = timezone.now()
    _grant(workspace, metric="seats", limit=10, expires_at=now + timedelta(days=14))

    assert limit_check(workspace, "seats", 5).status == LimitStatus.ALLOWED
    later = entitlements.workspace_entitlements(
        workspace_id=workspace.pk, now=now + timedelta(days=15)
    )
    assert later.limit("seats").limit == 3
    assert later.limit("seats").source == "plan"


def test_a_feature_override_switches_a_feature_on(workspace):
    _grant(workspace, feature="sso")

    assert entitlements.workspace_entitlements(workspace_id=workspace.pk).has_feature("sso")


def test_overrides_of_one_workspace_do_not_touch_another(workspace, other_workspace):
    _grant(workspace, metric="seats", limit=None)

    assert limit_check(other_workspace, "seats", 5).status == LimitStatus.BLOCKED


def test_feature_enforce_records_the_paywall_hit(workspace):
    from billing.limits import FeatureNotIncluded

    with pytest.raises(FeatureNotIncluded, match="Upgrade to Business"):
        feature_enforce(workspace, "sso", user_email="owner@northwind.io")

    hit = ProductEvent.objects.get(name="paywall_hit")
    assert (hit.workspace, hit.properties) == (workspace, {"feature": "sso"})


def test_a_plan_edit_is_seen_at_once_by_this_process(workspace):
    assert limit_check(workspace, "seats", 3).status == LimitStatus.BLOCKED

    limit = PlanLimit.objects.get(plan__code="free", metric="seats")
    limit.limit = 10
    limit.save()

    assert limit_check(workspace, "seats", 3).status == LimitStatus.ALLOWED


def test_a_plan_edit_reaches_other_processes_through_the_shared_cache(workspace):
    entitlements.workspace_entitlements(workspace_id=workspace.pk)  # warm both layers
    limit = PlanLimit.objects.get(plan__code="free", metric="seats")
    limit.limit = 10
    limit.save()
    entitlements.clear_local_cache()  # as another process sees it: only the shared cache

    assert entitlements.workspace_entitlements(workspace_id=workspace.pk).limit("seats").limit == 10


def test_a_subscription_change_drops_the_cached_entitlements(workspace):
    assert entitlements.workspace_entitlements(workspace_id=workspace.pk).plan.code == "free"

    on_plan(workspace, "business")

    assert entitlements.workspace_entitlements(workspace_id=workspace.pk).plan.code == "business"


def test_entitlements_are_served_from_the_cache_when_warm(workspace, django_assert_num_queries):
    entitlements.workspace_entitlements(workspace_id=workspace.pk)
    entitlements.clear_local_cache()

    with django_assert_num_queries(0):
        ent = entitlements.workspace_entitlements(workspace_id=workspace.pk)
    assert ent.plan.code == "free"


def test_without_a_reachable_cache_answers_come_from_the_database(workspace, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    entitlements.clear_local_cache()
    add_member(workspace, "b@northwind.io")
    limit = PlanLimit.objects.get(plan__code="free", metric="seats")
    limit.limit = 2
    limit.save()

    result = limit_check(workspace, "seats", 1)

    assert (result.status, result.used, result.limit) == (LimitStatus.BLOCKED, 2, 2)
    with pytest.raises(redis.ConnectionError):  # the cache really is down
        cache.get("anything")


def test_seats_paid_cap_a_per_seat_subscription(workspace):
    pro = Plan.objects.get(code="pro")
    subscription = workspace.subscription
    subscription.plan = pro
    subscription.price = pro.prices.get(interval="month")
    subscription.seats = 2
    subscription.save()
    add_member(workspace, "b@northwind.io")

    result = limit_check(workspace, "seats", 1)

    assert (result.status, result.limit) == (LimitStatus.BLOCKED, 2)
    assert entitlements.workspace_entitlements(workspace_id=workspace.pk).seats_paid == 2


def test_override_service_refuses_bad_input_and_saves_nothing(workspace):
    from accounts.errors import ApplicationError

    bad = [
        {"metric": "seats", "feature": "sso"},
        {},
        {"metric": "bananas", "limit": 5},
        {"feature": "teleport"},
        {"metric": "seats", "limit": -1},
        {"metric": "seats", "limit": 5, "expires_at": timezone.now() - timedelta(days=1)},
    ]
    for kwargs in bad:
        with pytest.raises(ApplicationError):
            _grant(workspace, **kwargs)
    with pytest.raises(ApplicationError, match="why"):
        billing_services.override_grant(
            workspace=workspace, actor=workspace.created_by, reason="  ", metric="seats", limit=5
        )

    assert not WorkspaceOverride.objects.exists()


@pytest.mark.parametrize(
    ("used", "limit", "near"),
    [(3, 5, False), (4, 5, True), (799, 1000, False), (800, 1000, True), (7, 5, True)],
)
def test_near_the_limit_starts_at_eighty_percent_used_without_rounding(used, limit, near):
    assert current.limit_is_near(used, limit) is near
    assert (limit_status(used, limit) != "ok") is near


def test_no_limit_is_never_near():
    assert not current.limit_is_near(10**9, None)
    assert limit_status(10**9, None) == "ok"
