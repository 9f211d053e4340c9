"""What a workspace may do, answered fast: its plan, effective limits and features.

Two cache layers sit over the database:

* the shared cache (Redis when configured, local memory in the embedded default) holds each
  workspace's entitlements and the catalog, stamped with the catalog version they were
  built from. A catalog edit writes a new version, so every entry built before it is stale
  at once; an override or subscription change deletes the workspace's entry;
* a process-local layer keeps an answer for at most ``LOCAL_TTL`` seconds, so a warm check
  costs no network round trip, and every process sees a change within a second.

The database stays the source of truth: when the cache cannot be reached, answers are built
from the database, and entries expire after ``SHARED_TTL`` in case an invalidation was lost
while the cache was down.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db.models import Prefetch, Q
from django.utils import timezone

from accounts.cache import TwoLevelCache, shared_call
from billing.models import (
    BillingSettings,
    Enforcement,
    Plan,
    PlanFeature,
    PlanLimit,
    Price,
    Subscription,
    WorkspaceOverride,
)

LOCAL_TTL = 0.5  # seconds: the bound on how long another process may answer from old data
SHARED_TTL = 300  # seconds
CATALOG_VERSION_KEY = "billing:catalog:version"
CATALOG_KEY = "billing:catalog"


# Values -----------------------------------------------------------------------------------


class LimitSource:
    """Where an effective limit comes from: the plan's own limit (its cap), the seats a
    per-seat subscription pays for (below the plan's seat cap), or an override granted to
    the workspace (it replaces both; billing still charges the seats paid)."""

    PLAN = "plan"
    SEATS_PAID = "seats paid"
    OVERRIDE = "override"


@dataclass(frozen=True)
class LimitSpec:
    """One effective limit. ``limit`` None means unlimited."""

    metric: str
    limit: int | None
    enforcement: str
    source: str = LimitSource.PLAN
    expires_at: datetime | None = None


@dataclass(frozen=True)
class PriceView:
    id: int
    interval: str
    amount_cents: int
    currency: str
    scheme: str
    stripe_price_id: str = ""


@dataclass(frozen=True)
class PlanView:
    """A plan of the catalog as the pricing page and the limit check see it."""

    id: int
    code: str
    name: str
    description: str
    tier_rank: int
    is_public: bool
    is_default_free: bool
    is_archived: bool
    trial_days: int
    limits: Mapping[str, LimitSpec]
    features: Mapping[str, bool]
    prices: tuple[PriceView, ...]

    @property
    def contact_sales(self) -> bool:
        return not self.is_public

    def price_for(self, interval: str) -> PriceView | None:
        return next((p for p in self.prices if p.interval == interval), None)

    def allows(self, metric: str, total: int) -> bool:
        spec = self.limits.get(metric)
        return spec is None or spec.limit is None or total <= spec.limit

    def limits_with_seats_paid(self, seats_paid: int) -> dict[str, LimitSpec]:
        """The plan's limits for a per-seat subscription paying for ``seats_paid`` seats:
        the seats paid are the seat limit where they are below the plan's seat cap (buying
        seats lifts it), with the enforcement of the plan's seat limit (hard without one)."""
        limits = dict(self.limits)
        plan_seats = limits.get("seats")
        if plan_seats is None or plan_seats.limit is None or seats_paid < plan_seats.limit:
            enforcement = plan_seats.enforcement if plan_seats else Enforcement.HARD
            limits["seats"] = LimitSpec(
                "seats", seats_paid, enforcement, source=LimitSource.SEATS_PAID
            )
        return limits


@dataclass(frozen=True)
class Catalog:
    version: str
    plans: tuple[PlanView, ...]

    def plan(self, plan_id: int) -> PlanView | None:
        return next((p for p in self.plans if p.id == plan_id), None)

    @property
    def offered(self) -> tuple[PlanView, ...]:
        """Plans on the pricing page: not archived, in tier order."""
        return tuple(p for p in self.plans if not p.is_archived)

    def cheapest_allowing(self, metric: str, total: int, *, above_rank: int) -> PlanView | None:
        """The lowest-ranked offered plan above ``above_rank`` whose limit admits ``total``."""
        return next(
            (p for p in self.offered if p.tier_rank > above_rank and p.allows(metric, total)),
            None,
        )

    def cheapest_with_feature(self, feature: str, *, above_rank: int) -> PlanView | None:
        return next(
            (p for p in self.offered if p.tier_rank > above_rank and p.features.get(feature)),
            None,
        )


@dataclass(frozen=True)
class OverrideView:
    id: int
    metric: str | None
    feature: str | None
    limit: int | None
    enforcement: str
    enabled: bool
    reason: str
    expires_at: datetime | None


@dataclass(frozen=True)
class Entitlements:
    """A workspace's plan with overrides applied."""

    workspace_id: int
    catalog_version: str
    plan: PlanView
    subscription_status: str
    seats_paid: int | None
    limits: Mapping[str, LimitSpec]
    features: Mapping[str, bool]
    overrides: tuple[OverrideView, ...] = ()
    valid_until: datetime | None = field(default=None, compare=False)
    # A past-due subscription keeps its paid plan's limits until ``grace_until``; from then
    # on ``plan`` is the default free plan (``grace_expired``) until the payment succeeds.
    past_due_since: datetime | None = None
    grace_until: datetime | None = None
    grace_expired: bool = False

    def limit(self, metric: str) -> LimitSpec | None:
        return self.limits.get(metric)

    @property
    def seat_override(self) -> OverrideView | None:
        """The override that lets the workspace use more seats than it pays for (the seat
        limit in force is an override above ``seats_paid``), or None. Billing still charges
        the seats paid: pages show the gap."""
        spec = self.limits.get("seats")
        if self.seats_paid is None or spec is None or spec.source != LimitSource.OVERRIDE:
            return None
        if spec.limit is not None and spec.limit <= self.seats_paid:
            return None
        return next((o for o in reversed(self.overrides) if o.metric == "seats"), None)

    def has_feature(self, feature: str) -> bool:
        return self.features.get(feature, False)


# Building from the database ---------------------------------------------------------------


def _build_catalog(version: str) -> Catalog:
    plans = Plan.objects.prefetch_related(
        Prefetch("limits", queryset=PlanLimit.objects.all()),
        Prefetch("features", queryset=PlanFeature.objects.all()),
        Prefetch("prices", queryset=Price.objects.filter(is_active=True)),
    ).order_by("tier_rank", "code")
    return Catalog(
        version=version,
        plans=tuple(
            PlanView(
                id=plan.pk,
                code=plan.code,
                name=plan.name,
                description=plan.description,
                tier_rank=plan.tier_rank,
                is_public=plan.is_public,
                is_default_free=plan.is_default_free,
                is_archived=plan.is_archived,
                trial_days=plan.trial_days,
                limits={
                    pl.metric_id: LimitSpec(pl.metric_id, pl.limit, pl.enforcement)
                    for pl in plan.limits.all()
                },
                features={pf.feature_id: pf.enabled for pf in plan.features.all()},
                prices=tuple(
                    PriceView(
                        p.pk, p.interval, p.amount_cents, p.currency, p.scheme, p.stripe_price_id
                    )
                    for p in plan.prices.all()
                ),
            )
            for plan in plans
        ),
    )


@dataclass(frozen=True)
class Resolved:
    """What a subscription's state makes of the catalog: the plan in force (the free plan
    once a past-due grace period is over), the effective limits (seats paid, then overrides,
    later ones winning) and features, and the grace period's dates."""

    plan: PlanView
    seats_paid: int | None
    limits: dict[str, LimitSpec]
    features: dict[str, bool]
    past_due_since: datetime | None
    grace_until: datetime | None
    grace_expired: bool


def entitlements_resolve(
    *,
    catalog: Catalog,
    plan_id: int | None,
    status: str,
    past_due_since: datetime | None,
    per_seat: bool,
    seats: int,
    overrides: tuple[OverrideView, ...],
    grace_period_days: int,
    now: datetime,
) -> Resolved:
    """The one rule that turns a subscription's state and the workspace's live overrides
    (expired ones already left out, oldest first) into effective limits and features. Pure:
    the per-workspace ``workspace_entitlements`` and the set-based
    ``billing.selectors.workspace_limits`` both call it."""
    free_plan = next(p for p in catalog.plans if p.is_default_free)
    plan = (catalog.plan(plan_id) if plan_id is not None else None) or free_plan

    # Failed payment: the paid plan's limits for the grace period, then the free plan's.
    grace_until = None
    grace_expired = False
    if status == Subscription.Status.PAST_DUE and past_due_since is not None:
        grace_until = past_due_since + timedelta(days=grace_period_days)
        grace_expired = now >= grace_until
        if grace_expired:
            plan = free_plan
    else:
        past_due_since = None

    limits = dict(plan.limits)
    seats_paid = None
    if not grace_expired and per_seat:
        seats_paid = seats
        limits = plan.limits_with_seats_paid(seats_paid)
    features = dict(plan.features)
    for o in overrides:  # later overrides win
        if o.metric:
            limits[o.metric] = LimitSpec(
                o.metric, o.limit, o.enforcement, LimitSource.OVERRIDE, o.expires_at
            )
        else:
            features[o.feature] = o.enabled
    return Resolved(
        plan=plan,
        seats_paid=seats_paid,
        limits=limits,
        features=features,
        past_due_since=past_due_since,
        grace_until=grace_until,
        grace_expired=grace_expired,
    )


def override_view(o: WorkspaceOverride) -> OverrideView:
    return OverrideView(
        id=o.pk,
        metric=o.metric_id,
        feature=o.feature_id,
        limit=o.limit,
        enforcement=o.enforcement,
        enabled=o.enabled,
        reason=o.reason,
        expires_at=o.expires_at,
    )


def live_overrides(now: datetime):
    """Overrides not expired at ``now``, oldest first (the order in which they apply)."""
    return WorkspaceOverride.objects.filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    ).order_by("created_at", "pk")


def subscription_entitlements_resolve(
    *,
    catalog: Catalog,
    subscription: Subscription | None,
    overrides: tuple[OverrideView, ...],
    grace_period_days: int,
    now: datetime,
):
    """``entitlements_resolve`` for a workspace's subscription row (its ``price`` loaded);
    no subscription counts as the default free plan, active."""
    return entitlements_resolve(
        catalog=catalog,
        plan_id=subscription.plan_id if subscription else None,
        status=subscription.status if subscription else Subscription.Status.ACTIVE,
        past_due_since=subscription.past_due_since if subscription else None,
        per_seat=bool(
            subscription is not None
            and subscription.price
            and subscription.price.scheme == Price.Scheme.PER_SEAT
        ),
        seats=subscription.seats if subscription else 0,
        overrides=overrides,
        grace_period_days=grace_period_days,
        now=now,
    )


def _build_entitlements(workspace_id: int, catalog: Catalog, now: datetime) -> Entitlements:
    subscription = (
        Subscription.objects.select_related("price").filter(workspace_id=workspace_id).first()
    )
    # No subscription is not expected: every workspace gets one at creation.
    status = subscription.status if subscription is not None else Subscription.Status.ACTIVE
    overrides = tuple(
        override_view(o) for o in live_overrides(now).filter(workspace_id=workspace_id)
    )
    grace_days = 0
    if status == Subscription.Status.PAST_DUE and subscription.past_due_since is not None:
        grace_days = BillingSettings.load().grace_period_days
    resolved = subscription_entitlements_resolve(
        catalog=catalog,
        subscription=subscription,
        overrides=overrides,
        grace_period_days=grace_days,
        now=now,
    )
    expiries = [o.expires_at for o in overrides if o.expires_at]
    if resolved.grace_until is not None and not resolved.grace_expired:
        expiries.append(resolved.grace_until)  # the cached answer flips when the grace ends
    return Entitlements(
        workspace_id=workspace_id,
        catalog_version=catalog.version,
        plan=resolved.plan,
        subscription_status=status,
        seats_paid=resolved.seats_paid,
        limits=resolved.limits,
        features=resolved.features,
        overrides=overrides,
        valid_until=min(expiries) if expiries else None,
        past_due_since=resolved.past_due_since,
        grace_until=resolved.grace_until,
        grace_expired=resolved.grace_expired,
    )


# The cache layers ---------------------------------------------------------------------------

_cache = TwoLevelCache(prefix="billing", local_ttl=LOCAL_TTL, shared_ttl=SHARED_TTL)


def _catalog_version() -> str:
    version = _cache.get(CATALOG_VERSION_KEY)
    if version is None:
        version = uuid.uuid4().hex
        # add(): if another process set a version meanwhile, use theirs.
        if not shared_call(lambda: cache.add(CATALOG_VERSION_KEY, version, timeout=None), False):
            version = _cache.get(CATALOG_VERSION_KEY) or version
    return version


def catalog() -> Catalog:
    """The whole plan catalog (archived plans included), cached by catalog version."""
    local = _cache.local_get(CATALOG_KEY)
    if local is not None:
        return local
    version = _catalog_version()
    shared = _cache.get(CATALOG_KEY)
    if shared is None or shared.version != version:
        shared = _build_catalog(version)
        _cache.put(CATALOG_KEY, shared)
    else:
        _cache.local_put(CATALOG_KEY, shared)
    return shared


def workspace_entitlements(*, workspace_id: int, now: datetime | None = None) -> Entitlements:
    """The workspace's plan, effective limits and features (overrides applied, expired
    overrides ignored). Fast when warm; always correct within ``LOCAL_TTL`` of a change."""
    now = now or timezone.now()
    key = _cache.key("entitlements", workspace_id)
    local = _cache.local_get(key)
    if local is not None and (local.valid_until is None or local.valid_until > now):
        return local
    found = _cache.get_many([key, CATALOG_VERSION_KEY])
    value, version = found.get(key), found.get(CATALOG_VERSION_KEY)
    if (
        value is None
        or version is None
        or value.catalog_version != version
        or (value.valid_until is not None and value.valid_until <= now)
    ):
        value = _build_entitlements(workspace_id, catalog(), now)
        _cache.put(key, value)
    else:
        _cache.local_put(key, value)
    return value


def catalog_changed() -> None:
    """Every plan, price, limit or feature edit: all cached entitlements become stale."""
    shared_call(lambda: cache.set(CATALOG_VERSION_KEY, uuid.uuid4().hex, timeout=None), None)
    _cache.clear_local()


def workspace_entitlements_changed(*, workspace_id: int) -> None:
    """An override or subscription change for one workspace."""
    _cache.delete(_cache.key("entitlements", workspace_id))


def clear_local_cache() -> None:
    """Forget this process's local layer (tests, and after a fork)."""
    _cache.clear_local()
