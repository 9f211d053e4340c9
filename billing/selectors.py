"""Reads of billing that cross models: the revenue ledger's figures for the metrics pages,
who billing mail goes to, whether a catalog price can be sold by the gateway in use, the
default free plan, whether a subscription is ending, the one-seat-more offer, and the impact
of a plan-limit change that the admin previews before saving it."""

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import IntEnum
from types import MappingProxyType

from django.core.paginator import Paginator
from django.db.models import Count, FilteredRelation, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.urls import reverse
from django.utils import timezone

from accounts import selectors as accounts_selectors
from accounts.errors import ApplicationError
from accounts.models import Role, Workspace
from billing.entitlements import (
    OverrideView,
    catalog,
    entitlements_resolve,
    live_overrides,
    override_view,
    workspace_entitlements,
)
from billing.models import (
    BillingSettings,
    Cancellation,
    Enforcement,
    Feature,
    Invoice,
    Plan,
    Price,
    RevenueMovement,
    Subscription,
    WorkspaceOverride,
)
from billing.stripe.gateway import STRIPE, billing_configured, gateway_name
from usage.current import NEAR_LIMIT_PERCENT, limit_is_near, limit_status, usage_current
from usage.models import Metric
from usage.selectors import metric_definitions, usage_by_workspace


def workspace_subscription(*, workspace_id: int) -> Subscription:
    """The workspace's subscription row (every workspace has one), with plan and price."""
    return Subscription.objects.select_related("plan", "price").get(workspace_id=workspace_id)


def workspace_invoices(*, workspace_id: int) -> QuerySet[Invoice]:
    """The workspace's invoices, newest first."""
    return Invoice.objects.filter(workspace_id=workspace_id).order_by("-created", "-id")


def price_connected(*, stripe_price_id: str) -> bool:
    """Whether the gateway in use can sell a catalog price whose Stripe price id is
    ``stripe_price_id``: Stripe needs the id (``manage.py stripe_sync_catalog`` records
    it); the offline gateway names prices itself. Pages say a price that is not connected
    "cannot be bought yet", and the services refuse it (``PriceNotConnected``)."""
    return gateway_name() != STRIPE or bool(stripe_price_id)


def feature_definitions() -> dict[str, Feature]:
    """Every feature a plan can include, by key, in name order."""
    return {feature.key: feature for feature in Feature.objects.order_by("name")}


def workspace_mrr(*, workspace_id: int) -> int:
    """The workspace's MRR now, in minor units of its subscription's currency."""
    return (
        Subscription.objects.filter(workspace_id=workspace_id)
        .values_list("mrr_cents", flat=True)
        .first()
        or 0
    )


def mrr_total(*, as_of: datetime | None = None, currency: str = "usd") -> int:
    """Total MRR in ``currency`` as of a moment (now by default): the sum of every movement
    that happened by then."""
    movements = RevenueMovement.objects.filter(currency=currency)
    if as_of is not None:
        movements = movements.filter(occurred_at__lte=as_of)
    return movements.aggregate(total=Sum("mrr_delta_cents"))["total"] or 0


def revenue_movements_by_kind(
    *, start: datetime, end: datetime, currency: str = "usd"
) -> dict[str, dict[str, int]]:
    """Per kind (new, expansion, contraction, churn, reactivation): how many movements
    happened in ``[start, end)`` and their MRR delta. Every kind is present."""
    rows = (
        RevenueMovement.objects.filter(
            currency=currency, occurred_at__gte=start, occurred_at__lt=end
        )
        .values("kind")
        .annotate(count=Count("id"), mrr_delta_cents=Sum("mrr_delta_cents"))
    )
    result = {kind: {"count": 0, "mrr_delta_cents": 0} for kind in RevenueMovement.Kind.values}
    for row in rows:
        result[row["kind"]] = {"count": row["count"], "mrr_delta_cents": row["mrr_delta_cents"]}
    return result


def revenue_movement_totals(
    *, workspace_ids: Collection[int] | None = None
) -> dict[tuple[int, str, datetime, str, str], int]:
    """The movements summed by workspace, month of ``occurred_at`` (UTC), kind and
    currency: ``{(workspace_id, currency, month, kind): cents}``, leaving out the sums that
    come to 0 (a movement and its correction). What the ledger guarantees to be the same
    whatever order Stripe delivered the events in."""
    movements = RevenueMovement.objects.all()
    if workspace_ids is not None:
        movements = movements.filter(workspace_id__in=workspace_ids)
    rows = (
        movements.annotate(month=TruncMonth("occurred_at", tzinfo=UTC))
        .values("workspace_id", "currency", "month", "kind")
        .annotate(total=Sum("mrr_delta_cents"))
        .values_list("workspace_id", "currency", "month", "kind", "total")
    )
    return {(w, c, m, k): total for w, c, m, k, total in rows if total}


def workspace_revenue_movements(*, workspace_id: int):
    """The workspace's ledger, oldest first."""
    return RevenueMovement.objects.filter(workspace_id=workspace_id).order_by("occurred_at", "id")


def workspace_owner_emails(*, workspace_id: int) -> list[str]:
    """Where billing mail goes: the e-mail addresses of the workspace's owners."""
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None:
        return []
    return [
        membership.user.email
        for membership in accounts_selectors.workspace_members(workspace=workspace)
        if membership.role == Role.OWNER
    ]


def default_free_plan() -> Plan:
    plan = Plan.objects.filter(is_default_free=True).first()
    if plan is None:
        raise ApplicationError("No default free plan is set: mark one plan as the default.")
    return plan


def subscription_canceling(subscription: Subscription) -> bool:
    """Whether the subscription ends at the end of its period: the mirror's word, unless a
    cancel or resume was requested here after the newest state the mirror holds (its
    webhook is on its way)."""
    latest = subscription.cancellations.order_by("-requested_at", "-id").first()
    if latest is not None:
        requested = max(latest.requested_at, latest.resumed_at or latest.requested_at)
        if subscription.stripe_watermark is None or requested > subscription.stripe_watermark:
            return latest.resumed_at is None
    return subscription.cancel_at_period_end


# Every workspace at once (PQL scoring) ----------------------------------------------------


@dataclass(frozen=True)
class EffectiveLimits:
    """A workspace's plan and effective limits, as ``workspace_entitlements`` gives them,
    with what it pays. ``limits`` maps each metric to its limit (None: unlimited)."""

    workspace_id: int
    plan_code: str
    tier_rank: int
    is_paid: bool
    subscription_status: str
    mrr_cents: int
    currency: str
    seats_paid: int | None
    limits: Mapping[str, int | None]


def workspace_limits(
    *, pk_from: int, pk_to: int, now: datetime, paid_from_ledger: bool = False
) -> dict[int, EffectiveLimits]:
    """Every live (not deleted) workspace with a primary key in ``[pk_from, pk_to)``: its
    plan, whether it pays, its MRR (``Subscription.mrr_cents``, kept by the revenue ledger)
    and its effective limits after seats paid, live overrides and the past-due grace
    period. Three queries whatever the number of workspaces (workspaces with their
    subscriptions, live overrides, the grace period setting) plus the cached catalog; the
    rule is ``billing.entitlements.entitlements_resolve``, the one ``workspace_entitlements``
    applies to a single workspace.

    The subscription mirror holds today's plan. With ``paid_from_ledger`` (a replay of a past
    ``now``), a workspace whose revenue ledger shows no MRR at ``now`` is answered as it was
    then: on the free plan, not paying (one more query). Plans set by hand have no ledger
    and stay as they are."""
    plans = catalog()
    if paid_from_ledger:
        paid_then = set(
            RevenueMovement.objects.filter(
                workspace_id__gte=pk_from, workspace_id__lt=pk_to, occurred_at__lte=now
            )
            .values("workspace_id")
            .annotate(mrr=Sum("mrr_delta_cents"))
            .filter(mrr__gt=0)
            .values_list("workspace_id", flat=True)
            .order_by()
        )
    # Tuples, not model instances: this reads every workspace of the range. The join states
    # the range on the subscriptions' side too, so the database reads only theirs (without,
    # it read every subscription for each range).
    in_range = Q(workspace_id__gte=pk_from, workspace_id__lt=pk_to)
    workspaces = (
        Workspace.objects.filter(pk__gte=pk_from, pk__lt=pk_to, deleted_at__isnull=True)
        .annotate(
            sub=FilteredRelation(
                "subscription",
                condition=Q(
                    subscription__workspace_id__gte=pk_from, subscription__workspace_id__lt=pk_to
                ),
            )
        )
        .order_by("pk")
        .values_list(
            "pk",
            "sub__pk",
            "sub__plan_id",
            "sub__status",
            "sub__seats",
            "sub__past_due_since",
            "sub__stripe_subscription_id",
            "sub__mrr_cents",
            "sub__currency",
            "sub__price__scheme",
        )
    )
    overrides: dict[int, list[OverrideView]] = {}
    for override in live_overrides(now).filter(in_range):
        overrides.setdefault(override.workspace_id, []).append(override_view(override))
    grace_days = (
        BillingSettings.objects.filter(pk=1).values_list("grace_period_days", flat=True).first()
    )
    if grace_days is None:
        grace_days = BillingSettings._meta.get_field("grace_period_days").default
    # Most workspaces share a subscription state (the free plan, a paid plan's seats): each
    # distinct state without overrides is resolved once and its answer shared.
    shared: dict[tuple, tuple] = {}
    result = {}
    for (
        workspace_id,
        subscription_id,
        plan_id,
        status,
        seats,
        past_due_since,
        stripe_subscription_id,
        mrr_cents,
        currency,
        scheme,
    ) in workspaces:
        has_subscription = subscription_id is not None
        is_paid = (
            has_subscription
            and bool(stripe_subscription_id)
            and status != Subscription.Status.CANCELED
        )
        if paid_from_ledger and is_paid and workspace_id not in paid_then:
            has_subscription = is_paid = False  # it started paying after ``now``: free then
        if not has_subscription:
            plan_id, status, seats, past_due_since, scheme = None, None, 0, None, None
            mrr_cents, currency = 0, "usd"
        state = (plan_id, status, seats, past_due_since, scheme == Price.Scheme.PER_SEAT)
        own = overrides.get(workspace_id)
        answer = None if own else shared.get(state)
        if answer is None:
            resolved = entitlements_resolve(
                catalog=plans,
                plan_id=plan_id,
                status=status or Subscription.Status.ACTIVE,
                past_due_since=past_due_since,
                per_seat=state[4],
                seats=seats,
                overrides=tuple(own or ()),
                grace_period_days=grace_days,
                now=now,
            )
            answer = (
                resolved.plan.code,
                resolved.plan.tier_rank,
                resolved.seats_paid,
                {metric: spec.limit for metric, spec in resolved.limits.items()},
            )
            if not own:
                shared[state] = answer
        plan_code, tier_rank, seats_paid, limits = answer
        result[workspace_id] = EffectiveLimits(
            workspace_id=workspace_id,
            plan_code=plan_code,
            tier_rank=tier_rank,
            is_paid=is_paid,
            subscription_status=status or Subscription.Status.ACTIVE,
            mrr_cents=mrr_cents,
            currency=currency,
            seats_paid=seats_paid,
            limits=MappingProxyType(limits),
        )
    return result


def mrr_increases(*, pk_from: int, pk_to: int, since: datetime, until: datetime) -> dict[int, int]:
    """Per workspace with a primary key in ``[pk_from, pk_to)``, the MRR added in
    ``[since, until)`` (integer cents, any currency): the sum of the ledger's movements that
    raised it (new, expansion, reactivation), read by when they happened. Workspaces whose
    MRR did not rise then are absent. One query (the backtest reads what followed a day)."""
    return dict(
        RevenueMovement.objects.filter(
            workspace_id__gte=pk_from,
            workspace_id__lt=pk_to,
            occurred_at__gte=since,
            occurred_at__lt=until,
            mrr_delta_cents__gt=0,
        )
        .values("workspace_id")
        .annotate(added=Sum("mrr_delta_cents"))
        .values_list("workspace_id", "added")
        .order_by()
    )


# Reads for the billing pages --------------------------------------------------------------


@dataclass(frozen=True)
class SeatOffer:
    """ "Add a seat for $12/month": the seat-change preview with one seat more, offered where
    an invitation hits the seat limit of a per-seat paid plan."""

    price_id: int
    seats: int
    amount_cents: int
    currency: str
    interval: str
    preview_url: str


def subscription_seat_offer(*, workspace: Workspace) -> SeatOffer | None:
    """The one-seat-more offer, when the workspace pays per seat on a live subscription and
    its plan allows another seat and a gateway can sell it; else None."""
    if not billing_configured():
        return None
    subscription = Subscription.objects.select_related("price", "plan").get(workspace=workspace)
    price = subscription.price
    if (
        not subscription.is_paid
        or price is None
        or price.scheme != Price.Scheme.PER_SEAT
        or subscription.status == Subscription.Status.PAST_DUE
    ):
        return None
    plan = catalog().plan(subscription.plan_id)
    seats = subscription.seats + 1
    if plan is not None and not plan.allows("seats", seats):
        return None
    url = reverse("workspace_billing_change", kwargs={"workspace_slug": workspace.slug})
    return SeatOffer(
        price_id=price.pk,
        seats=seats,
        amount_cents=price.amount_cents,
        currency=price.currency,
        interval=price.interval,
        preview_url=f"{url}?price={price.pk}&seats={seats}",
    )


# The impact of a plan-limit change (the admin's preview) ----------------------------------

IMPACT_PAGE_SIZE = 50


class Standing(IntEnum):
    """Where a workspace stands against a limit, from free to stuck."""

    CLEAR = 0  # below NEAR_LIMIT_PERCENT of the limit, or no limit
    NEAR = 1  # NEAR_LIMIT_PERCENT of the limit or more, not over (at a soft one included)
    OVER = 2  # over a soft limit: allowed, warned
    BLOCKED = 3  # at or over a hard limit: nothing more can be added

    @property
    def label(self) -> str:
        return {0: "Clear", 1: "Near", 2: "Over (soft)", 3: "Blocked"}[self.value]


def _standing(used: int, limit: int | None, enforcement: str | None) -> Standing:
    if limit is None:
        return Standing.CLEAR
    if enforcement == Enforcement.HARD and used >= limit:
        return Standing.BLOCKED
    if used > limit:
        return Standing.OVER
    return Standing.NEAR if limit_is_near(used, limit) else Standing.CLEAR


@dataclass(frozen=True)
class LimitChange:
    """A plan limit this save changes. ``None`` is unlimited (or no limit row at all)."""

    metric: Metric
    old_limit: int | None
    new_limit: int | None
    old_enforcement: str | None
    new_enforcement: str | None

    @property
    def tightens(self) -> bool:
        """Lower, finite where it was unlimited, or hard where it was soft."""
        if self.new_limit is None:
            return False
        return (
            self.old_limit is None
            or self.new_limit < self.old_limit
            or (
                self.old_enforcement == Enforcement.SOFT
                and self.new_enforcement == Enforcement.HARD
            )
        )

    @property
    def loosens(self) -> bool:
        """Higher, unlimited where it was finite, or soft where it was hard."""
        if self.old_limit is None or self.tightens:
            return False
        return (
            self.new_limit is None
            or self.new_limit > self.old_limit
            or (
                self.old_enforcement == Enforcement.HARD
                and self.new_enforcement == Enforcement.SOFT
            )
        )


@dataclass(frozen=True)
class ImpactRow:
    workspace_id: int
    name: str
    slug: str
    used: int
    limit: int | None  # the new limit
    old_limit: int | None = None
    before: Standing = Standing.CLEAR  # against the old limit
    after: Standing = Standing.CLEAR  # against the new limit

    @property
    def is_over(self) -> bool:
        return self.limit is not None and self.used > self.limit

    @property
    def percent(self) -> int | None:
        return self.used * 100 // self.limit if self.limit else None

    @property
    def old_percent(self) -> int | None:
        return self.used * 100 // self.old_limit if self.old_limit else None


@dataclass(frozen=True)
class MetricImpact:
    """What one changed limit does to the workspaces on the plan.

    A tightened limit lists the workspaces over it or within 80 % of it; a loosened one lists
    the workspaces it frees: blocked, over or near the old limit and better off under the
    new one. Counts are over all of them; ``rows`` are one page of them, the most affected
    first."""

    metric: str
    name: str
    unit: str
    old_limit: int | None
    new_limit: int | None
    old_enforcement: str | None
    new_enforcement: str | None
    loosens: bool
    counted: int  # workspaces on the plan whose limit comes from the plan
    overridden: int  # workspaces on the plan with an active override for the metric
    over: int  # used > new limit
    near: int  # used >= 80 % of the new limit, not over
    was_affected: int  # loosened: blocked, over or within 80 % of the old limit
    freed: int  # loosened: of those, the ones better off under the new limit
    rows: tuple[ImpactRow, ...]  # one page of the listed workspaces
    page: int = 1
    pages: int = 1

    @property
    def affected(self) -> int:
        """The workspaces listed: freed ones for a loosened limit, over or near otherwise."""
        return self.freed if self.loosens else self.over + self.near

    @property
    def now_hard(self) -> bool:
        """Soft before, hard now: what is over the limit will be blocked, not just warned."""
        return self.old_enforcement == Enforcement.SOFT and self.new_enforcement == Enforcement.HARD

    @property
    def now_soft(self) -> bool:
        """Hard before, soft now: what is over the limit is warned, no longer blocked."""
        return self.old_enforcement == Enforcement.HARD and self.new_enforcement == Enforcement.SOFT

    @property
    def first(self) -> int:
        """The position of the page's first row among all listed, from 1."""
        return (self.page - 1) * IMPACT_PAGE_SIZE + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1 if self.rows else 0

    @property
    def summary(self) -> str:
        if self.loosens:
            new = "unlimited" if self.new_limit is None else f"{self.new_limit:,}"
            return (
                f"{self.name}: {self.freed} freed by the new limit of {new}, of "
                f"{self.was_affected} blocked, over or within {NEAR_LIMIT_PERCENT}% of the "
                f"old limit of {self.old_limit:,}"
            )
        return (
            f"{self.name}: {self.over} over, {self.near} within {NEAR_LIMIT_PERCENT}% "
            f"of the new limit of {self.new_limit:,}"
        )


@dataclass(frozen=True)
class LimitImpact:
    """The impact preview of a plan edit: one entry per changed limit that affects anyone
    or could (tightened and loosened), with totals over all the workspaces."""

    metrics: tuple[MetricImpact, ...]
    workspaces_affected: int = 0  # distinct workspaces over or near a tightened limit
    workspaces_freed: int = 0  # distinct workspaces freed by a loosened limit
    held: bool = False  # the save waits for the admin: shown, not yet confirmed

    @property
    def tightened(self) -> tuple[MetricImpact, ...]:
        return tuple(m for m in self.metrics if not m.loosens)

    @property
    def loosened(self) -> tuple[MetricImpact, ...]:
        return tuple(m for m in self.metrics if m.loosens)

    @property
    def needs_confirmation(self) -> bool:
        return any(m.affected for m in self.metrics)

    @property
    def signature(self) -> str:
        """Names the reviewed changes: a confirmation counts only for the limits it was
        given for, not for values edited after the preview was shown."""
        return ";".join(
            f"{m.metric}={'unlimited' if m.new_limit is None else m.new_limit}:"
            f"{m.new_enforcement or '-'}"
            for m in self.metrics
        )

    @property
    def summary(self) -> str:
        return "; ".join(m.summary for m in self.metrics if m.affected)


def limit_change_impact(
    *,
    plan: Plan,
    changes: list[LimitChange],
    pages: Mapping[str, int | str] | None = None,
    now: datetime | None = None,
) -> LimitImpact:
    """For the workspaces on ``plan`` without an active override of the metric, what each
    changed limit does: for a tightened one, how many use more than the new limit and how
    many are within 80 % of it; for a loosened one, how many it frees. Lists them
    ``IMPACT_PAGE_SIZE`` at a time, the page of each metric chosen by ``pages``.

    Set-based, whatever the number of workspaces: one query for the subscribers, one for
    their overrides, the usage of each metric for all of them at once, and one for the names
    of the workspaces on the pages shown."""
    now = now or timezone.now()
    pages = pages or {}
    subscribers = list(
        Subscription.objects.filter(plan=plan).values_list("workspace_id", flat=True)
    )
    overridden = set(
        WorkspaceOverride.objects.filter(
            workspace__subscription__plan=plan,
            metric_id__in=[change.metric.key for change in changes],
        )
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .values_list("workspace_id", "metric_id")
        .distinct()
    )
    impacts = []
    affected: set[int] = set()
    freed_anywhere: set[int] = set()
    for change in changes:
        key, limit = change.metric.key, change.new_limit
        counted = [w for w in subscribers if (w, key) not in overridden]
        usage = usage_by_workspace(metric=key, workspace_ids=counted, now=now) if counted else {}
        after = {w: _standing(used, limit, change.new_enforcement) for w, used in usage.items()}
        over = [(w, used) for w, used in usage.items() if limit is not None and used > limit]
        near = [
            (w, used)
            for w, used in usage.items()
            if limit is not None and used <= limit and limit_is_near(used, limit)
        ]
        before = {
            w: _standing(used, change.old_limit, change.old_enforcement)
            for w, used in usage.items()
        }
        was_affected, freed = [], []
        if change.loosens:
            was_affected = [w for w, standing in before.items() if standing > Standing.CLEAR]
            freed = [(w, usage[w]) for w in was_affected if after[w] < before[w]]
            listed = sorted(freed, key=_by_usage)
            freed_anywhere.update(w for w, _ in freed)
        else:
            listed = sorted(over, key=_by_usage) + sorted(near, key=_by_usage)
            affected.update(w for w, _ in listed)
        page = Paginator(listed, IMPACT_PAGE_SIZE).get_page(pages.get(key))
        impacts.append(
            MetricImpact(
                metric=key,
                name=change.metric.name,
                unit=change.metric.unit,
                old_limit=change.old_limit,
                new_limit=limit,
                old_enforcement=change.old_enforcement,
                new_enforcement=change.new_enforcement,
                loosens=change.loosens,
                counted=len(counted),
                overridden=len(subscribers) - len(counted),
                over=len(over),
                near=len(near),
                was_affected=len(was_affected),
                freed=len(freed),
                rows=tuple(
                    ImpactRow(
                        workspace_id=w,
                        name="",
                        slug="",
                        used=used,
                        limit=limit,
                        old_limit=change.old_limit,
                        before=before[w],
                        after=after[w],
                    )
                    for w, used in page.object_list
                ),
                page=page.number,
                pages=page.paginator.num_pages,
            )
        )

    # Names only for the rows shown, in one query for all metrics.
    shown = {r.workspace_id for impact in impacts for r in impact.rows}
    names = {
        pk: {"name": name, "slug": slug}
        for pk, name, slug in Workspace.objects.filter(pk__in=shown).values_list(
            "pk", "name", "slug"
        )
    }
    return LimitImpact(
        metrics=tuple(
            replace(
                impact,
                rows=tuple(replace(r, **names.get(r.workspace_id, {})) for r in impact.rows),
            )
            for impact in impacts
        ),
        workspaces_affected=len(affected),
        workspaces_freed=len(freed_anywhere),
    )


def _by_usage(row: tuple[int, int]) -> tuple[int, int]:
    workspace_id, used = row
    return -used, workspace_id


def entitlements_summary(*, workspace) -> dict:
    """The workspace's plan, each limit with its usage, and its features (the API's view)."""
    entitlements = workspace_entitlements(workspace_id=workspace.pk)
    metrics = metric_definitions()
    limits = {}
    for key, spec in sorted(entitlements.limits.items()):
        used = usage_current(workspace_id=workspace.pk, metric=key)
        metric = metrics.get(key)
        limits[key] = {
            "limit": spec.limit,
            "enforcement": spec.enforcement,
            "used": used,
            "remaining": None if spec.limit is None else max(spec.limit - used, 0),
            "status": limit_status(used, spec.limit),
            "source": spec.source,
            "resets": metric.reset_period if metric else "never",
        }
    return {
        "workspace": workspace.slug,
        "plan": {
            "code": entitlements.plan.code,
            "name": entitlements.plan.name,
            "status": entitlements.subscription_status,
        },
        "limits": limits,
        "features": dict(sorted(entitlements.features.items())),
    }


def workspace_deletion_blocker(*, workspace: Workspace) -> str | None:
    """Why the workspace cannot be deleted now, or None. The rule: a paid subscription must
    be canceled first (set to end at the end of its period: no further payment is taken),
    and a failed payment still being retried must be settled, so no live subscription keeps
    billing a deleted workspace."""
    subscription = workspace_subscription(workspace_id=workspace.pk)
    if not subscription.is_paid:
        return None
    plan = subscription.plan.name
    if subscription.status == "past_due":
        return (
            f"The last payment for the {plan} plan failed and is still being retried: update "
            "the card in the billing portal, or cancel the subscription and wait until it has "
            "ended, before deleting the workspace."
        )
    if not subscription_canceling(subscription):
        return (
            f"{workspace.name} pays for the {plan} plan: cancel the subscription on the billing "
            "page first. It then is not renewed and no further payment is taken; after that "
            "you can delete the workspace."
        )
    return None


@dataclass(frozen=True)
class PlanFacts:
    """What a workspace is on and pays, and what the next plan up would bring (for sales)."""

    workspace_id: int
    plan_code: str
    plan_name: str
    is_paid: bool
    seats_paid: int
    mrr_cents: int
    currency: str
    next_plan_name: str | None  # the next offered plan up the tiers; None at the top
    next_plan_mrr_cents: int | None  # its monthly price for the seats paid (at least one)


def workspace_plan_facts(*, workspace_ids: Collection[int]) -> dict[int, PlanFacts]:
    """Plan facts of a page of workspaces (one query, plus the cached catalog)."""
    plans = catalog()
    by_id = {plan.id: plan for plan in plans.plans}
    offered = plans.offered
    facts = {}
    for subscription in Subscription.objects.filter(workspace_id__in=list(workspace_ids)):
        plan = by_id[subscription.plan_id]
        seats = max(subscription.seats or 0, 1)
        upper = next(
            (p for p in offered if p.tier_rank > plan.tier_rank and not p.contact_sales), None
        )
        monthly = upper.price_for(Price.Interval.MONTH) if upper else None
        next_mrr = None
        if monthly is not None:
            per_seat = monthly.scheme == Price.Scheme.PER_SEAT
            next_mrr = monthly.amount_cents * (seats if per_seat else 1)
        facts[subscription.workspace_id] = PlanFacts(
            workspace_id=subscription.workspace_id,
            plan_code=plan.code,
            plan_name=plan.name,
            is_paid=subscription.is_paid,
            seats_paid=subscription.seats or 0,
            mrr_cents=subscription.mrr_cents,
            currency=subscription.currency,
            next_plan_name=upper.name if upper else None,
            next_plan_mrr_cents=next_mrr,
        )
    return facts


def workspaces_on_plan(*, plan_code: str) -> QuerySet:
    """The ids of the workspaces on a plan, as a subquery for other apps' filters."""
    return Subscription.objects.filter(plan__code=plan_code).values("workspace_id")


def workspace_cancellations(*, workspace_id: int) -> QuerySet:
    """The workspace's cancellations with their reasons, newest first."""
    return Cancellation.objects.filter(workspace_id=workspace_id).order_by("-requested_at", "-id")


def plan_choices() -> list[tuple[str, str]]:
    """(code, name) of every plan in the catalog, by tier, for filters (cached catalog)."""
    return [(plan.code, plan.name) for plan in sorted(catalog().plans, key=lambda p: p.tier_rank)]
