"""Reading Stripe's objects: a subscription, an invoice or a checkout session as Stripe sends
it (in the shapes of the pinned API version, ``client.API_VERSION``) turned into our values.

Stripe statuses map onto the mirror as follows: ``active``, ``trialing`` and ``past_due``
are kept; ``canceled``, ``unpaid`` (Stripe gave up collecting), ``incomplete_expired`` (the
first payment never came) and ``paused`` (a trial ended without a payment method) are
``canceled`` — the workspace is back on the default free plan; ``incomplete`` (the first
payment is still pending, e.g. 3-D Secure) changes nothing: the workspace keeps its plan
until the first payment succeeds and Stripe sends the subscription as ``active``.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from django.utils import timezone

from billing.models import Plan, Price, StripeDiscount, Subscription
from billing.stripe.prices import plan_for_stripe_product, price_for_stripe_id

logger = logging.getLogger(__name__)

LIVE_STATUSES = {
    "active": Subscription.Status.ACTIVE,
    "trialing": Subscription.Status.TRIALING,
    "past_due": Subscription.Status.PAST_DUE,
}
ENDED_STATUSES = frozenset({"canceled", "unpaid", "incomplete_expired", "paused"})
NOT_STARTED = "incomplete"


class StripeDataError(Exception):
    """The event cannot be mirrored until someone fixes the data (for example a Stripe
    price no catalog price carries): the event fails, is not retried, and is replayed from
    the admin once fixed."""


def time_from(value: int | None) -> datetime | None:
    """A Unix time Stripe sent, as an aware datetime (None for none)."""
    return datetime.fromtimestamp(value, tz=UTC) if value else None


def id_from(value: str | dict | None) -> str:
    """An id from a field that is an id, or the object when expanded."""
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return value or ""


def workspace_id_from(*candidates: object) -> int | None:
    """The first candidate that is a workspace id (Handoff puts it in the metadata and
    ``client_reference_id``)."""
    for candidate in candidates:
        if isinstance(candidate, int) or (isinstance(candidate, str) and candidate.isdigit()):
            return int(candidate)
    return None


# What the customer is billed --------------------------------------------------------------
#
# MRR is what the subscription object itself bills, the way ChartMogul and Baremetrics
# define it: every item's price (its ``unit_amount_decimal``, or its tiers) times its
# quantity, normalised to a month (a year is 12 months, a week 52/12 of a month, a day
# 365/12, and ``interval_count`` divides), net of the discounts that apply at the state's
# time, rounded once to the minor unit (halves up). Metered items bill what was used, which
# the subscription does not say: they count 0. A state that is not active or past due
# (trialing, canceled …) is worth 0.

MONTHS_PER_INTERVAL = {
    "month": Fraction(1),
    "year": Fraction(12),
    "week": Fraction(12, 52),
    "day": Fraction(12, 365),
}


def _decimal(value: object) -> Fraction | None:
    if value is None or value == "":
        return None
    return Fraction(Decimal(str(value)))


def _unit_amount(obj: dict[str, Any], prefix: str = "unit_amount") -> Fraction:
    amount = _decimal(obj.get(f"{prefix}_decimal"))
    if amount is None:
        amount = _decimal(obj.get(prefix))
    return amount or Fraction(0)


def _billed_quantity(price: dict[str, Any], quantity: int) -> int:
    transform = price.get("transform_quantity") or {}
    divide_by = transform.get("divide_by") or 1
    whole, rest = divmod(quantity, divide_by)
    return whole + (1 if rest and transform.get("round") == "up" else 0)


def _tiered_amount(tiers: list[dict[str, Any]], mode: str, quantity: int) -> Fraction:
    """One interval of a tiered price: ``volume`` bills every unit at the tier the quantity
    falls in; ``graduated`` bills each tier's units at its own price."""
    total = Fraction(0)
    below = 0
    for tier in tiers:
        up_to = tier.get("up_to")
        top = quantity if up_to in (None, "inf") else min(int(up_to), quantity)
        if mode == "volume":
            if up_to in (None, "inf") or quantity <= int(up_to):
                return _unit_amount(tier) * quantity + _unit_amount(tier, "flat_amount")
            continue
        if quantity > below:
            total += _unit_amount(tier) * (top - below) + _unit_amount(tier, "flat_amount")
        if up_to in (None, "inf") or quantity <= int(up_to):
            break
        below = int(up_to)
    return total


def item_interval_amount(item: dict[str, Any]) -> Fraction:
    """What one subscription item bills per interval of its price, before discounts."""
    price = item.get("price") or {}
    recurring = price.get("recurring") or {}
    if recurring.get("usage_type") == "metered":
        return Fraction(0)
    quantity = _billed_quantity(price, int(item.get("quantity") or 0))
    if price.get("billing_scheme") == "tiered":
        tiers = price.get("tiers")
        if not tiers:  # Stripe sends tiers only when asked to expand them
            catalog = price_for_stripe_id(id_from(price))
            logger.warning(
                "tiered price %s without its tiers: counting the catalog's amount", price.get("id")
            )
            return Fraction(catalog.amount_for(quantity)) if catalog is not None else Fraction(0)
        return _tiered_amount(tiers, price.get("tiers_mode") or "volume", quantity)
    return _unit_amount(price) * quantity


def _months(item: dict[str, Any]) -> Fraction:
    recurring = (item.get("price") or {}).get("recurring") or {}
    per = MONTHS_PER_INTERVAL.get(recurring.get("interval") or "month", Fraction(1))
    return per * int(recurring.get("interval_count") or 1)


def _coupon(discount: dict[str, Any]) -> dict[str, Any] | None:
    """A discount's coupon: under ``source`` in the current API, directly before."""
    coupon = (discount.get("source") or {}).get("coupon") or discount.get("coupon")
    return coupon if isinstance(coupon, dict) else None


def discount_applies(
    discount: dict[str, Any], *, at: datetime, period_start: datetime | None
) -> bool:
    """Whether a discount on the subscription lowers what it bills at ``at``: from its
    ``start``; a ``repeating`` one until its ``end``; a ``once`` one for the billing
    period it started in (it discounts one invoice); a ``forever`` one for good."""
    coupon = _coupon(discount) or {}
    start, end = time_from(discount.get("start")), time_from(discount.get("end"))
    if start is not None and at < start:
        return False
    if end is not None and at >= end:
        return False
    if coupon.get("duration") == "once":
        return start is None or period_start is None or start >= period_start
    return True


def discount_ids(obj: dict[str, Any]) -> set[str]:
    """The discounts a subscription object names by id only (as its events do)."""
    items = (obj.get("items") or {}).get("data") or []
    listed = list(obj.get("discounts") or [])
    for item in items:
        listed += item.get("discounts") or []
    return {d for d in listed if isinstance(d, str) and d}


def expanded_discounts(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The discounts a subscription object carries expanded, with their coupons."""
    items = (obj.get("items") or {}).get("data") or []
    listed = list(obj.get("discounts") or [])
    for item in items:
        listed += item.get("discounts") or []
    return [d for d in listed if isinstance(d, dict) and d.get("id") and _coupon(d) is not None]


def _discounted(
    amount: Fraction,
    discounts: list,
    *,
    at: datetime,
    period_start: datetime | None,
    known: Mapping[str, dict[str, Any]],
) -> tuple[Fraction, list[str]]:
    """``amount`` (one interval) less the discounts that apply; also the ids of discounts
    that could not be read (named by id, and not in ``known``)."""
    unread = []
    for discount in discounts:
        if isinstance(discount, str):
            discount = known.get(discount, discount)
        if not isinstance(discount, dict) or _coupon(discount) is None:
            unread.append(id_from(discount))
            continue
        if not discount_applies(discount, at=at, period_start=period_start):
            continue
        coupon = _coupon(discount)
        if coupon.get("percent_off") is not None:
            amount -= amount * _decimal(coupon["percent_off"]) / 100
        elif coupon.get("amount_off") is not None:
            amount -= Fraction(int(coupon["amount_off"]))
        amount = max(amount, Fraction(0))
    return amount, unread


def half_up(value: Fraction) -> int:
    """To the nearest integer, halves up (MRR is never negative)."""
    return int((value + Fraction(1, 2)) // 1)


def billed_mrr(
    obj: dict[str, Any], *, at: datetime, known: Mapping[str, dict[str, Any]] | None = None
) -> tuple[int, list[str]]:
    """What the subscription object bills per month at ``at``, in minor units of its
    currency, whatever its status; and the discount ids that could not be read (``known``
    holds the discount objects, by id, of those it names by id only).

    Item discounts lower their item; the subscription's discounts lower the sum of its
    items. An ``amount_off`` is per invoice, so per interval of the items it lowers."""
    items = (obj.get("items") or {}).get("data") or []
    period_start = time_from(items[0].get("current_period_start")) if items else None
    unread: list[str] = []
    monthly = Fraction(0)
    per_interval = Fraction(0)
    months = _months(items[0]) if items else Fraction(1)
    for item in items:
        amount, missing = _discounted(
            item_interval_amount(item),
            item.get("discounts") or [],
            at=at,
            period_start=period_start,
            known=known or {},
        )
        unread += missing
        per_interval += amount * months / _months(item)
    total, missing = _discounted(
        per_interval,
        obj.get("discounts") or [],
        at=at,
        period_start=period_start,
        known=known or {},
    )
    unread += missing
    monthly = total / months
    return half_up(monthly), unread


@dataclass(frozen=True)
class SubscriptionState:
    """A Stripe subscription object, read into what the mirror should hold."""

    subscription_id: str
    customer_id: str
    stripe_status: str
    status: str | None  # the mirror's status; None while the first payment is pending
    price_id: str
    price: Price | None  # the catalog's price, for a live subscription
    plan: Plan | None  # the plan it names, for a live subscription
    seats: int
    cancel_at_period_end: bool
    canceled_at: datetime | None
    trial_end: datetime | None
    current_period_start: datetime | None
    current_period_end: datetime | None
    workspace_hint: int | None
    currency: str = "usd"
    started_at: datetime | None = None
    # What the state bills per month (every item, net of discounts), whatever its status.
    billed_cents: int = 0
    unread_discounts: tuple[str, ...] = ()

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES.values()

    @property
    def mrr_cents(self) -> int:
        """Its MRR: what it bills while active or past due (a failed payment is not churn
        until Stripe ends the subscription); 0 while trialing, ended or not started."""
        if self.status in (Subscription.Status.ACTIVE, Subscription.Status.PAST_DUE):
            return self.billed_cents
        return 0


def _plan_item(
    items: list[dict[str, Any]], live: bool
) -> tuple[dict[str, Any], Price | None, Plan | None]:
    """The item that names the workspace's plan (and its seats), its catalog price and
    plan: of the items whose Stripe price the catalog carries, or whose product is a plan's,
    the one of the highest tier; else the first item. Money never comes from the catalog:
    items it does not know (add-ons, negotiated prices) count in what the state bills."""
    best: tuple[dict[str, Any], Price | None, Plan | None] = (
        items[0] if items else {},
        None,
        None,
    )
    if not live:
        return best
    for item in items:
        stripe_price = item.get("price") or {}
        price = price_for_stripe_id(id_from(stripe_price))
        plan = price.plan if price is not None else None
        if plan is None:
            plan = plan_for_stripe_product(id_from(stripe_price.get("product")))
        if plan is not None and (best[2] is None or plan.tier_rank > best[2].tier_rank):
            best = (item, price, plan)
    return best


def subscription_state(
    obj: dict[str, Any],
    *,
    at: datetime | None = None,
    known_discounts: Mapping[str, dict[str, Any]] | None = None,
    catalog: bool = True,
) -> SubscriptionState:
    """Read a subscription object in the current API's shape: price, quantity and the
    current period live on the items; ``at`` is when the state held (the event's time),
    for the discounts that apply then (now by default).

    A bulk reader passes the discounts it loaded (``known_discounts``, by id) and may skip
    the catalog (``catalog=False``: no price or plan, the first item's seats), so reading a
    state makes no query; what it bills, its status and currency are the same."""
    stripe_status = obj.get("status") or ""
    if stripe_status in LIVE_STATUSES:
        status: str | None = LIVE_STATUSES[stripe_status]
    elif stripe_status in ENDED_STATUSES:
        status = Subscription.Status.CANCELED
    elif stripe_status == NOT_STARTED:
        status = None
    else:
        raise StripeDataError(
            f"Subscription {obj.get('id')} has an unknown status {stripe_status!r}."
        )
    items = (obj.get("items") or {}).get("data") or []
    live = status in LIVE_STATUSES.values()
    item, price, plan = _plan_item(items, live and catalog)
    price_id = id_from(item.get("price"))
    metadata = obj.get("metadata") or {}
    ids = discount_ids(obj)
    if known_discounts is not None:
        known = {key: known_discounts[key] for key in ids if key in known_discounts}
    elif ids:
        known = dict(
            StripeDiscount.objects.filter(stripe_id__in=ids).values_list("stripe_id", "data")
        )
    else:
        known = {}
    billed, unread = billed_mrr(obj, at=at or timezone.now(), known=known)
    currency = obj.get("currency") or (item.get("price") or {}).get("currency") or ""
    return SubscriptionState(
        subscription_id=obj["id"],
        customer_id=id_from(obj.get("customer")),
        stripe_status=stripe_status,
        status=status,
        price_id=price_id,
        price=price,
        plan=plan,
        seats=int(item.get("quantity") or 1),
        cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
        canceled_at=time_from(obj.get("canceled_at")),
        trial_end=time_from(obj.get("trial_end")),
        current_period_start=time_from(item.get("current_period_start")),
        current_period_end=time_from(item.get("current_period_end")),
        workspace_hint=workspace_id_from(metadata.get("workspace_id")),
        currency=(currency or (price.currency if price else "usd")).lower(),
        started_at=time_from(obj.get("created")),
        billed_cents=billed,
        unread_discounts=tuple(unread),
    )


def checkout_workspace_hint(session: dict[str, Any]) -> int | None:
    """The workspace a Checkout session names (``client_reference_id`` or metadata)."""
    return workspace_id_from(
        session.get("client_reference_id"), (session.get("metadata") or {}).get("workspace_id")
    )


def invoice_subscription_id(invoice: dict[str, Any]) -> str:
    """The subscription an invoice bills, or "" for none."""
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return id_from(details.get("subscription")) or id_from(invoice.get("subscription"))


def invoice_workspace_hint(invoice: dict[str, Any]) -> int | None:
    """The workspace an invoice's (or its subscription's) metadata names."""
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return workspace_id_from(
        (details.get("metadata") or {}).get("workspace_id"),
        (invoice.get("metadata") or {}).get("workspace_id"),
    )


def invoice_values(invoice: dict[str, Any], *, workspace_id: int) -> dict[str, Any]:
    """The ``Invoice`` mirror's fields for a Stripe invoice object."""
    return {
        "workspace_id": workspace_id,
        "number": invoice.get("number") or "",
        "status": invoice.get("status") or "",
        "amount_due_cents": invoice.get("amount_due") or 0,
        "amount_paid_cents": invoice.get("amount_paid") or 0,
        "currency": invoice.get("currency") or "usd",
        "hosted_invoice_url": invoice.get("hosted_invoice_url") or "",
        "period_start": time_from(invoice.get("period_start")),
        "period_end": time_from(invoice.get("period_end")),
        "created": time_from(invoice.get("created")) or timezone.now(),
    }
