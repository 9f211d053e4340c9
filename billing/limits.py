"""The one limit check, used everywhere a limit applies.

``limit_check(workspace, metric, amount)`` answers allowed / soft-exceeded / blocked for adding
``amount`` to what the workspace uses now, against its effective limit, says which limit
that is (``source``: the plan's cap, the seats paid, or an override) and names what lifts
it: more seats where the plan allows them, else the cheapest plan that would allow it (a
plan change does not lift an override: sales does). ``limit_enforce`` is the same check
for a change about to be made: a blocked answer records a paywall hit and raises
``LimitExceeded`` (HTTP 402), whose message names the limit and what lifts it.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime

from django.urls import reverse

from accounts.errors import ApplicationError
from accounts.models import Workspace
from billing.entitlements import (
    LimitSource,
    PlanView,
    catalog,
    workspace_entitlements,
)
from billing.models import Enforcement
from usage.current import LimitStatus, usage_current
from usage.services import paywall_hit_record, paywall_hit_record_daily


@dataclass(frozen=True)
class LimitCheck:
    workspace_id: int
    metric: str
    status: LimitStatus
    used: int
    amount: int
    limit: int | None
    enforcement: str | None
    plan_name: str
    upgrade_plan: PlanView | None
    # Which limit applies: the plan's own (its cap), the seats paid (below the plan's seat
    # cap: buying seats lifts it) or an override (``billing.entitlements.LimitSource``).
    source: str = LimitSource.PLAN
    plan_limit: int | None = None  # the plan's own limit of the metric; None: no cap

    @property
    def allowed(self) -> bool:
        return self.status != LimitStatus.BLOCKED

    @property
    def seats_paid_reached(self) -> bool:
        """Blocked by the seats the workspace pays for, not by its plan: buy more seats."""
        return self.source == LimitSource.SEATS_PAID and self.plan_allows_more

    @property
    def plan_allows_more(self) -> bool:
        """The plan's own limit admits what was asked (only the seats paid stand in the
        way, for a seats-paid limit)."""
        return self.plan_limit is None or self.used + self.amount <= self.plan_limit

    @property
    def lifted_by_upgrade(self) -> bool:
        """A higher plan would lift the limit: the plan's own, or seats paid where the
        plan's cap is reached as well. Not an override: it stays whatever the plan."""
        if self.source == LimitSource.OVERRIDE:
            return False
        return self.source == LimitSource.PLAN or not self.plan_allows_more


def _workspace_id(workspace: Workspace | int) -> int:
    return workspace if isinstance(workspace, int) else workspace.pk


def limit_check(
    workspace: Workspace | int,
    metric: str,
    amount: int = 1,
    *,
    used: int | None = None,
    fresh: bool = False,
) -> LimitCheck:
    """May the workspace add ``amount`` of ``metric``? Answers from the caches (fast;
    exact within half a second of a change) unless ``fresh``. ``used`` overrides the
    reading (accepting an invitation counts members only: the invitation held the seat)."""
    workspace_id = _workspace_id(workspace)
    entitlements = workspace_entitlements(workspace_id=workspace_id)
    spec = entitlements.limit(metric)
    if used is None:
        used = usage_current(workspace_id=workspace_id, metric=metric, fresh=fresh)
    if spec is None or spec.limit is None or amount <= 0 or used + amount <= spec.limit:
        status = LimitStatus.ALLOWED
    elif spec.enforcement == Enforcement.SOFT:
        status = LimitStatus.SOFT_EXCEEDED
    else:
        status = LimitStatus.BLOCKED
    plan_spec = entitlements.plan.limits.get(metric)
    result = LimitCheck(
        workspace_id=workspace_id,
        metric=metric,
        status=status,
        used=used,
        amount=amount,
        limit=spec.limit if spec else None,
        enforcement=spec.enforcement if spec else None,
        plan_name=entitlements.plan.name,
        upgrade_plan=None,
        source=spec.source if spec else LimitSource.PLAN,
        plan_limit=plan_spec.limit if plan_spec else None,
    )
    if status != LimitStatus.ALLOWED and result.lifted_by_upgrade:
        upgrade_plan = catalog().cheapest_allowing(
            metric, used + amount, above_rank=entitlements.plan.tier_rank
        )
        result = replace(result, upgrade_plan=upgrade_plan)
    return result


class LimitExceeded(ApplicationError):
    """A hard limit would be exceeded: the upgrade moment."""

    status = 402

    def __init__(self, result: LimitCheck, *, upgrade_url: str) -> None:
        self.check = result
        self.upgrade_url = upgrade_url
        super().__init__(self._message(result), field=result.metric)

    @staticmethod
    def _message(result: LimitCheck) -> str:
        """Which limit was reached, then what lifts it."""
        metric = result.metric.replace("_", " ")
        if result.seats_paid_reached:
            cap = (
                f"{result.plan_name} has no seat cap"
                if result.plan_limit is None
                else f"{result.plan_name} allows up to {result.plan_limit:,}"
            )
            return (
                f"This workspace pays for {result.limit} seat{'s' if result.limit != 1 else ''} "
                f"and uses {result.used}. Add seats to make room: {cap}."
            )
        if result.source == LimitSource.OVERRIDE:
            return (
                f"Handoff's team set this workspace's limit to {result.limit} {metric} (an "
                f"override) and it uses {result.used}. Contact sales to raise it."
            )
        if result.source == LimitSource.SEATS_PAID:  # beyond the plan's seat cap as well
            message = (
                f"This workspace pays for {result.limit} seats, and the {result.plan_name} "
                f"plan allows up to {result.plan_limit:,}."
            )
        else:
            message = (
                f"Your {result.plan_name} plan allows {result.limit} {metric} and this "
                f"workspace uses {result.used}."
            )
        if result.upgrade_plan is None:
            message += " Contact sales to raise the limit."
        elif result.upgrade_plan.contact_sales:
            message += f" {result.upgrade_plan.name} lifts it: contact sales."
        else:
            message += f" Upgrade to {result.upgrade_plan.name} to lift it."
        return message


class FeatureNotIncluded(ApplicationError):
    """The workspace's plan does not include a feature."""

    status = 402

    def __init__(self, feature: str, plan_name: str, upgrade: PlanView | None, *, upgrade_url: str):
        self.feature = feature
        self.upgrade_plan = upgrade
        self.upgrade_url = upgrade_url
        label = feature.replace("_", " ")
        lift = f" Upgrade to {upgrade.name} to get it." if upgrade else " Contact sales."
        super().__init__(f"The {plan_name} plan does not include the {label}.{lift}")


def upgrade_url_for(workspace: Workspace | int) -> str:
    """The workspace's plan page (its slug is looked up only when given an id)."""
    if isinstance(workspace, Workspace):
        slug = workspace.slug
    else:
        slug = Workspace.objects.filter(pk=workspace).values_list("slug", flat=True).first()
    return reverse("workspace_plan", kwargs={"workspace_slug": slug})


def limit_enforce(
    workspace: Workspace | int, metric: str, amount: int = 1, *, used: int | None = None
) -> LimitCheck:
    """``limit_check`` on a fresh reading from the database, raising ``LimitExceeded`` when
    blocked. Call it where the change is made, under the workspace lock, and wrap the
    service in ``paywall_hits_recorded``."""
    result = limit_check(workspace, metric, amount, used=used, fresh=True)
    if not result.allowed:
        raise LimitExceeded(result, upgrade_url=upgrade_url_for(workspace))
    return result


@contextmanager
def paywall_hits_recorded(*, user_email: str = "") -> Iterator[None]:
    """Record a paywall hit for a ``LimitExceeded`` raised inside, then re-raise it.

    Wrap a service's transaction in it (not the other way round): the refused change rolls
    back, the record of the upgrade moment stays.
    """
    try:
        yield
    except LimitExceeded as exc:
        paywall_hit_record(
            workspace_id=exc.check.workspace_id,
            metric=exc.check.metric,
            user_email=user_email,
            properties={
                "used": exc.check.used,
                "limit": exc.check.limit,
                "amount": exc.check.amount,
            },
        )
        raise


def feature_enforce(
    workspace: Workspace | int, feature: str, *, user_email: str = "", now: datetime | None = None
) -> None:
    """Raise ``FeatureNotIncluded`` unless the workspace's plan or an override includes
    ``feature``. Pages call it to show the paywall, so the hit is recorded once per user,
    feature and day (``paywall_hit_record_daily``), not on every refresh."""
    workspace_id = _workspace_id(workspace)
    entitlements = workspace_entitlements(workspace_id=workspace_id)
    if entitlements.has_feature(feature):
        return
    paywall_hit_record_daily(
        workspace_id=workspace_id, feature=feature, user_email=user_email, now=now
    )
    raise FeatureNotIncluded(
        feature,
        entitlements.plan.name,
        catalog().cheapest_with_feature(feature, above_rank=entitlements.plan.tier_rank),
        upgrade_url=upgrade_url_for(workspace),
    )
