"""Reads of billing that cross models: the revenue ledger's figures for the metrics pages,
who billing mail goes to, and whether a catalog price can be sold by the gateway in use."""

from datetime import datetime

from django.db.models import Count, QuerySet, Sum

from accounts import selectors as accounts_selectors
from accounts.models import Role, Workspace
from billing.models import Feature, Invoice, RevenueMovement, Subscription
from billing.stripe.gateway import STRIPE, gateway_name


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
