"""What each Stripe event does to the mirror: one handler per event type, and the service
that processes one stored event exactly once (``stripe_event_process``).

Stripe owns subscription state; the handlers mirror it into ``Subscription`` and record
every MRR change in the revenue ledger. Processing is idempotent and order-safe:

* **Once.** The StripeEvent row is locked and its status checked; an event processed or
  skipped before is never applied again, and a RevenueMovement is one-to-one with the
  event that caused it.
* **Order.** ``Subscription.stripe_watermark`` is the Stripe ``created`` time of the newest
  event applied. A subscription event older than it never overwrites state (the event is
  marked skipped with the reason). One in the same second (Stripe's clock has one-second
  resolution, so which came first is unknown) that would change the mirror is repaired
  from Stripe: the subscription is fetched and *that* state applied. Stripe is called
  only when such a gap makes it necessary (also: the workspace of a subscription is
  unknown, a checkout completed before the subscription's own events arrived, a past-due
  subscription's invoice was paid), never on the normal path, and never while a row lock
  is held: the handler rolls back, the subscription is fetched, and the event is processed
  again with the fetched state.
* **Partial events.** Invoice events carry no subscription state. ``invoice.payment_failed``
  marks the subscription past due (``past_due_since`` = the event's time) without moving
  the watermark; a subscription state older than ``past_due_since`` does not clear it.
  Stripe follows every status change with a ``customer.subscription.updated`` that carries
  the whole state, so the mirror converges whatever the order of delivery.

Stripe statuses map onto the mirror as follows: ``active``, ``trialing`` and ``past_due``
are kept; ``canceled``, ``unpaid`` (Stripe gave up collecting), ``incomplete_expired`` (the
first payment never came) and ``paused`` (a trial ended without a payment method) are
``canceled`` — the workspace is back on the default free plan; ``incomplete`` (the first
payment is still pending, e.g. 3-D Secure) changes nothing: the workspace keeps its plan
until the first payment succeeds and Stripe sends the subscription as ``active``.

**API version.** The handlers read Stripe's objects in the shapes of the pinned API version
(``client.API_VERSION``; any version of its release, which differ only by additions). An
event rendered in another version (a webhook endpoint created with an older one, or with
none) is refused: stored as failed with the reason, shown as a warning in the admin, and
nothing of it applied, since an older shape reads as empty billing periods.

A workspace mirrors one Stripe subscription at a time. An event for another subscription
of the same customer takes over the mirror when it is newer than the state applied,
unless it has ended while the mirrored one is live.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Workspace
from billing import ledger
from billing.models import Invoice, Plan, Price, StripeEvent, Subscription
from billing.services import default_free_plan
from billing.signals import workspace_upgraded
from billing.stripe.client import API_RELEASE, API_VERSION, StripeUnavailable
from billing.stripe.gateway import gateway
from billing.stripe.prices import price_for_stripe_id
from billing.tasks import trial_ending_notify
from usage.services import product_event_record

logger = logging.getLogger(__name__)

LIVE_STATUSES = {
    "active": Subscription.Status.ACTIVE,
    "trialing": Subscription.Status.TRIALING,
    "past_due": Subscription.Status.PAST_DUE,
}
ENDED_STATUSES = frozenset({"canceled", "unpaid", "incomplete_expired", "paused"})
NOT_STARTED = "incomplete"
FINAL_INVOICE_STATUSES = frozenset({"paid", "void", "uncollectible"})
DONE = frozenset({StripeEvent.Status.PROCESSED, StripeEvent.Status.SKIPPED})
MAX_FETCHES = 2

MIRROR_FIELDS = [
    "stripe_subscription_id",
    "stripe_customer_id",
    "plan",
    "price",
    "seats",
    "status",
    "currency",
    "cancel_at_period_end",
    "canceled_at",
    "trial_end",
    "current_period_start",
    "current_period_end",
    "past_due_since",
    "stripe_watermark",
    "updated_at",
]


class FetchNeeded(Exception):
    """The event cannot be applied safely from its payload: fetch the subscription from
    Stripe (outside any lock) and process the event again with that state."""

    def __init__(self, subscription_id: str, reason: str) -> None:
        super().__init__(f"{reason}: fetching {subscription_id} from Stripe")
        self.subscription_id = subscription_id
        self.reason = reason


class StripeDataError(Exception):
    """The event cannot be mirrored until someone fixes the data (for example a Stripe
    price no catalog price carries): the event fails, is not retried, and is replayed from
    the admin once fixed."""


@dataclass(frozen=True)
class Outcome:
    status: str
    reason: str = ""


PROCESSED = Outcome(StripeEvent.Status.PROCESSED)


def _skipped(reason: str) -> Outcome:
    return Outcome(StripeEvent.Status.SKIPPED, reason)


@dataclass(frozen=True)
class Context:
    """One event being processed: the stored event, Stripe's time of it, its object, and
    the subscription fetched from Stripe when a gap made that necessary."""

    event: StripeEvent
    at: datetime
    obj: dict[str, Any]
    fetched: dict[str, Any] | None

    def fetched_for(self, subscription_id: str) -> dict[str, Any] | None:
        if self.fetched is not None and self.fetched.get("id") == subscription_id:
            return self.fetched
        return None


# Reading Stripe's objects ------------------------------------------------------------------


def _time(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value else None


def _id(value: str | dict | None) -> str:
    """An id from a field that is an id, or the object when expanded."""
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return value or ""


def _workspace_id(*candidates: object) -> int | None:
    for candidate in candidates:
        if isinstance(candidate, int) or (isinstance(candidate, str) and candidate.isdigit()):
            return int(candidate)
    return None


@dataclass(frozen=True)
class SubscriptionState:
    """A Stripe subscription object, read into what the mirror should hold."""

    subscription_id: str
    customer_id: str
    stripe_status: str
    status: str | None  # the mirror's status; None while the first payment is pending
    price_id: str
    price: Price | None  # the catalog's price, for a live subscription
    seats: int
    cancel_at_period_end: bool
    canceled_at: datetime | None
    trial_end: datetime | None
    current_period_start: datetime | None
    current_period_end: datetime | None
    workspace_hint: int | None

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES.values()


def subscription_state(obj: dict[str, Any]) -> SubscriptionState:
    """Read a subscription object in the current API's shape: price, quantity and the
    current period live on the first item (``items.data[0]``)."""
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
    item = items[0] if items else {}
    price_id = _id(item.get("price"))
    metadata = obj.get("metadata") or {}
    return SubscriptionState(
        subscription_id=obj["id"],
        customer_id=_id(obj.get("customer")),
        stripe_status=stripe_status,
        status=status,
        price_id=price_id,
        price=price_for_stripe_id(price_id) if status in LIVE_STATUSES.values() else None,
        seats=int(item.get("quantity") or 1),
        cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
        canceled_at=_time(obj.get("canceled_at")),
        trial_end=_time(obj.get("trial_end")),
        current_period_start=_time(item.get("current_period_start")),
        current_period_end=_time(item.get("current_period_end")),
        workspace_hint=_workspace_id(metadata.get("workspace_id")),
    )


def mirror_target(state: SubscriptionState, free_plan: Plan) -> dict[str, Any]:
    """The mirror's fields for a started subscription state. A live subscription whose
    Stripe price no catalog price carries cannot be mirrored: ``StripeDataError``."""
    if state.is_live:
        if state.price is None:
            raise StripeDataError(
                f"Stripe price {state.price_id or '(none)'} of subscription "
                f"{state.subscription_id} is not on any catalog price: paste it into the "
                "price's “Stripe price id” in the admin, then replay this event."
            )
        fields: dict[str, Any] = {
            "plan": state.price.plan,
            "price": state.price,
            "seats": state.seats,
            "status": state.status,
            "currency": state.price.currency,
        }
    else:
        fields = {"plan": free_plan, "price": None, "seats": 0, "status": state.status}
    return fields | {
        "stripe_subscription_id": state.subscription_id,
        "cancel_at_period_end": state.cancel_at_period_end,
        "canceled_at": state.canceled_at,
        "trial_end": state.trial_end,
        "current_period_start": state.current_period_start,
        "current_period_end": state.current_period_end,
    }


def mirror_differs(subscription: Subscription, target: dict[str, Any]) -> bool:
    for name, value in target.items():
        current = getattr(subscription, f"{name}_id" if name in ("plan", "price") else name)
        wanted = value.pk if isinstance(value, Plan | Price) else value
        if current != wanted:
            return True
    return False


# Finding and locking the workspace's subscription ------------------------------------------


def _locate(
    *, subscription_id: str, customer_id: str, workspace_hint: int | None
) -> Subscription | None:
    """The workspace's subscription row: by Stripe subscription id, else by customer id
    (when exactly one workspace has it), else by the workspace id Handoff put in the
    metadata / ``client_reference_id``."""
    rows = Subscription.objects.only("pk", "workspace_id")
    if subscription_id:
        found = rows.filter(stripe_subscription_id=subscription_id).first()
        if found is not None:
            return found
    if customer_id:
        matches = list(rows.filter(stripe_customer_id=customer_id)[:2])
        if len(matches) == 1:
            return matches[0]
    if workspace_hint is not None:
        return rows.filter(workspace_id=workspace_hint).first()
    return None


def subscription_lock(row: Subscription) -> Subscription:
    """Lock the workspace row, then its subscription (the order every billing write takes)."""
    list(Workspace.objects.select_for_update().filter(pk=row.workspace_id).values_list("pk"))
    return (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("plan", "price")
        .get(pk=row.pk)
    )


def _paying_rank(*, plan: Plan, status: str, price_id: int | None) -> int | None:
    """The tier the workspace pays for, or None when it pays nothing."""
    if status in ledger.COUNTED_STATUSES and price_id is not None:
        return plan.tier_rank
    return None


def _state_save(
    subscription: Subscription,
    *,
    at: datetime,
    event: StripeEvent | None,
    before_plan: Plan,
    before_rank: int | None,
) -> None:
    """Save the mirror's new state, record the MRR change, announce an upgrade."""
    subscription.save(update_fields=MIRROR_FIELDS)
    new_mrr = ledger.subscription_mrr(subscription)
    movement = ledger.revenue_movement_record(
        subscription=subscription,
        new_mrr=new_mrr,
        occurred_at=at,
        stripe_event=event,
        plan_code=before_plan.code if new_mrr == 0 else None,
    )
    after_rank = _paying_rank(
        plan=subscription.plan, status=subscription.status, price_id=subscription.price_id
    )
    if after_rank is not None and (before_rank is None or after_rank > before_rank):
        arguments = {
            "workspace_id": subscription.workspace_id,
            "plan_code": subscription.plan.code,
            "mrr_delta_cents": movement.mrr_delta_cents if movement else 0,
            "stripe_event_id": event.stripe_id if event is not None else None,
        }
        transaction.on_commit(
            lambda: workspace_upgraded.send(sender=Subscription, **arguments), robust=True
        )


def subscription_state_apply(
    subscription: Subscription,
    state: SubscriptionState,
    *,
    at: datetime,
    event: StripeEvent | None,
    authoritative: bool,
    move_watermark: bool = True,
) -> Outcome:
    """Apply a subscription state to the locked mirror row, order-safely.

    ``at`` is when Stripe says the state held (the event's ``created``). ``authoritative``
    is True for a state fetched from Stripe just now (a same-second tie is then settled);
    reconciliation applies fetched state without moving the watermark.
    """
    watermark = subscription.stripe_watermark
    mirrored = subscription.stripe_subscription_id
    same_object = mirrored == state.subscription_id
    if watermark is not None and at < watermark:
        return _skipped(
            f"older than the state applied: created {at.isoformat()}, "
            f"watermark {watermark.isoformat()}"
        )
    if not same_object and mirrored and subscription.is_paid and not state.is_live:
        return _skipped(
            f"{state.subscription_id} is {state.stripe_status}; the workspace mirrors "
            f"the live subscription {mirrored}"
        )
    if not same_object and mirrored and subscription.is_paid and state.is_live:
        # A newer live subscription takes over (a replacement whose predecessor's end is
        # still on its way). If both stay live the customer pays twice: reconciliation
        # walks Stripe's subscriptions and reports it for an admin to cancel one.
        logger.warning(
            "workspace %s: live subscription %s takes over from %s",
            subscription.workspace_id,
            state.subscription_id,
            mirrored,
        )
    if state.status is None:
        if not subscription.stripe_customer_id and state.customer_id:
            subscription.stripe_customer_id = state.customer_id
            subscription.save(update_fields=["stripe_customer_id", "updated_at"])
        return _skipped(
            f"{state.subscription_id} is incomplete: the workspace keeps its plan until the "
            "first payment succeeds"
        )

    target = mirror_target(state, default_free_plan())
    status = target["status"]
    if (
        same_object
        and not authoritative
        and subscription.status == Subscription.Status.PAST_DUE
        and subscription.past_due_since is not None
        and status in (Subscription.Status.ACTIVE, Subscription.Status.TRIALING)
    ):
        if subscription.past_due_since > at:  # the failed payment is newer than this state
            target["status"] = Subscription.Status.PAST_DUE
        elif subscription.past_due_since == at:
            raise FetchNeeded(state.subscription_id, "a payment failed in the same second")
    if watermark is not None and at == watermark and not authoritative:
        if not mirror_differs(subscription, target):
            return PROCESSED  # the same state again: nothing to repair
        raise FetchNeeded(state.subscription_id, "same second as the state applied")

    before_plan = subscription.plan
    before_rank = _paying_rank(
        plan=subscription.plan, status=subscription.status, price_id=subscription.price_id
    )
    was_past_due = same_object and subscription.status == Subscription.Status.PAST_DUE
    for name, value in target.items():
        setattr(subscription, name, value)
    if state.customer_id:
        subscription.stripe_customer_id = state.customer_id
    if subscription.status != Subscription.Status.PAST_DUE:
        subscription.past_due_since = None
    elif not was_past_due or subscription.past_due_since is None:
        subscription.past_due_since = at
    if move_watermark:
        subscription.stripe_watermark = at
    _state_save(subscription, at=at, event=event, before_plan=before_plan, before_rank=before_rank)
    return PROCESSED


def _apply_from_event(
    ctx: Context, state_obj: dict[str, Any], *, hint: int | None = None
) -> tuple[Subscription | None, SubscriptionState | None, Outcome]:
    """Find the workspace of a subscription object and apply it. A subscription no
    workspace claims is fetched from Stripe once (its metadata may name the workspace)."""
    fetched = ctx.fetched_for(state_obj["id"])
    state = subscription_state(fetched or state_obj)
    row = _locate(
        subscription_id=state.subscription_id,
        customer_id=state.customer_id,
        workspace_hint=state.workspace_hint or hint,
    )
    if row is None:
        if fetched is None:
            raise FetchNeeded(state.subscription_id, "no workspace is linked to it yet")
        return None, state, _skipped(f"no workspace claims subscription {state.subscription_id}")
    subscription = subscription_lock(row)
    outcome = subscription_state_apply(
        subscription, state, at=ctx.at, event=ctx.event, authoritative=fetched is not None
    )
    return subscription, state, outcome


# Handlers ----------------------------------------------------------------------------------


def subscription_changed(ctx: Context) -> Outcome:
    """``customer.subscription.created``, ``.updated`` and ``.deleted`` carry the whole
    subscription: apply it (``.deleted`` has status ``canceled``: back to the free plan)."""
    return _apply_from_event(ctx, ctx.obj)[2]


def subscription_trial_will_end(ctx: Context) -> Outcome:
    """Three days before a trial ends: mirror the state, record a ``trial_will_end``
    product event and e-mail the workspace's owners, if the workspace is still trialing."""
    subscription, state, outcome = _apply_from_event(ctx, ctx.obj)
    if (
        subscription is None
        or state is None
        or subscription.stripe_subscription_id != state.subscription_id
        or subscription.status != Subscription.Status.TRIALING
    ):
        return outcome
    trial_end = subscription.trial_end or state.trial_end
    product_event_record(
        workspace_id=subscription.workspace_id,
        name="trial_will_end",
        properties={
            "plan": subscription.plan.code,
            "trial_end": trial_end.isoformat() if trial_end else None,
        },
        occurred_at=ctx.at,
    )
    workspace_id = subscription.workspace_id
    transaction.on_commit(
        lambda: trial_ending_notify.delay(workspace_id, ctx.event.stripe_id), robust=True
    )
    return PROCESSED


def checkout_completed(ctx: Context) -> Outcome:
    """A Checkout session paid: link the workspace (``client_reference_id`` / metadata) to
    the Stripe customer and subscription. If the subscription's own events have not
    arrived yet, its state is fetched from Stripe and applied."""
    session = ctx.obj
    if session.get("mode") != "subscription":
        return _skipped(f"a {session.get('mode')} checkout, not a subscription")
    subscription_id = _id(session.get("subscription"))
    customer_id = _id(session.get("customer"))
    hint = _workspace_id(
        session.get("client_reference_id"), (session.get("metadata") or {}).get("workspace_id")
    )
    if not subscription_id:
        return _skipped("the session has no subscription")
    fetched = ctx.fetched_for(subscription_id)
    if fetched is not None:
        return _apply_from_event(ctx, fetched, hint=hint)[2]
    row = _locate(subscription_id=subscription_id, customer_id=customer_id, workspace_hint=hint)
    if row is None:
        return _skipped(f"no workspace matches checkout {session.get('id')}")
    subscription = subscription_lock(row)
    if subscription.stripe_subscription_id != subscription_id or not subscription.stripe_watermark:
        raise FetchNeeded(subscription_id, "checkout completed before the subscription's events")
    if customer_id and subscription.stripe_customer_id != customer_id:
        subscription.stripe_customer_id = customer_id
        subscription.save(update_fields=["stripe_customer_id", "updated_at"])
    return PROCESSED


def _invoice_subscription_id(invoice: dict[str, Any]) -> str:
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return _id(details.get("subscription")) or _id(invoice.get("subscription"))


def _invoice_hint(invoice: dict[str, Any]) -> int | None:
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return _workspace_id(
        (details.get("metadata") or {}).get("workspace_id"),
        (invoice.get("metadata") or {}).get("workspace_id"),
    )


def _invoice_store(invoice: dict[str, Any], *, workspace_id: int) -> Invoice:
    """Store or refresh the invoice mirror. A paid, void or uncollectible invoice is final:
    an older event does not take it back to open."""
    values = {
        "workspace_id": workspace_id,
        "number": invoice.get("number") or "",
        "status": invoice.get("status") or "",
        "amount_due_cents": invoice.get("amount_due") or 0,
        "amount_paid_cents": invoice.get("amount_paid") or 0,
        "currency": invoice.get("currency") or "usd",
        "hosted_invoice_url": invoice.get("hosted_invoice_url") or "",
        "period_start": _time(invoice.get("period_start")),
        "period_end": _time(invoice.get("period_end")),
        "created": _time(invoice.get("created")) or timezone.now(),
    }
    stored = Invoice.objects.select_for_update().filter(stripe_id=invoice["id"]).first()
    if stored is None:
        return Invoice.objects.create(stripe_id=invoice["id"], **values)
    if stored.status in FINAL_INVOICE_STATUSES and values["status"] not in FINAL_INVOICE_STATUSES:
        return stored
    for name, value in values.items():
        setattr(stored, name, value)
    stored.save()
    return stored


def _invoice_subscription(ctx: Context) -> tuple[Subscription | None, str, Outcome | None]:
    """The locked subscription row an invoice event is about; applies a fetched state when
    the subscription was unknown here (a gap)."""
    invoice = ctx.obj
    subscription_id = _invoice_subscription_id(invoice)
    fetched = ctx.fetched_for(subscription_id) if subscription_id else None
    if fetched is not None:
        subscription, _, outcome = _apply_from_event(ctx, fetched, hint=_invoice_hint(invoice))
        return subscription, subscription_id, outcome
    row = _locate(
        subscription_id=subscription_id,
        customer_id=_id(invoice.get("customer")),
        workspace_hint=_invoice_hint(invoice),
    )
    if row is None:
        if subscription_id:
            raise FetchNeeded(subscription_id, "an invoice for a subscription not linked yet")
        return None, subscription_id, _skipped(f"no workspace for invoice {invoice.get('id')}")
    subscription = subscription_lock(row)
    if subscription_id and not subscription.stripe_subscription_id:
        raise FetchNeeded(subscription_id, "an invoice for a subscription not linked yet")
    return subscription, subscription_id, None


def invoice_paid(ctx: Context) -> Outcome:
    """Store the invoice. A past-due subscription whose invoice is paid recovers: its new
    status comes from the subscription itself, fetched from Stripe."""
    subscription, subscription_id, outcome = _invoice_subscription(ctx)
    if subscription is None:
        return outcome or PROCESSED
    _invoice_store(ctx.obj, workspace_id=subscription.workspace_id)
    if outcome is not None:  # a fetched state was applied
        return outcome
    if (
        subscription.stripe_subscription_id == subscription_id
        and subscription.status == Subscription.Status.PAST_DUE
        and (subscription.stripe_watermark is None or ctx.at >= subscription.stripe_watermark)
        and (subscription.past_due_since is None or ctx.at >= subscription.past_due_since)
    ):
        raise FetchNeeded(subscription_id, "a past-due subscription's invoice was paid")
    return PROCESSED


def invoice_payment_failed(ctx: Context) -> Outcome:
    """Store the invoice and mark the subscription past due (once: ``past_due_since`` keeps
    the first failure). An event older than the state applied only stores the invoice."""
    subscription, subscription_id, outcome = _invoice_subscription(ctx)
    if subscription is None:
        return outcome or PROCESSED
    _invoice_store(ctx.obj, workspace_id=subscription.workspace_id)
    if outcome is not None:
        return outcome
    if subscription.stripe_subscription_id != subscription_id or not subscription.is_paid:
        return PROCESSED
    if subscription.status == Subscription.Status.PAST_DUE:
        return PROCESSED
    watermark = subscription.stripe_watermark
    if watermark is not None and ctx.at < watermark:
        return _skipped(
            f"older than the state applied (watermark {watermark.isoformat()}); the invoice "
            "is stored"
        )
    if watermark is not None and ctx.at == watermark:
        raise FetchNeeded(subscription_id, "a payment failed in the same second as the state")
    before_plan = subscription.plan
    before_rank = _paying_rank(
        plan=subscription.plan, status=subscription.status, price_id=subscription.price_id
    )
    subscription.status = Subscription.Status.PAST_DUE
    subscription.past_due_since = ctx.at
    _state_save(
        subscription,
        at=ctx.at,
        event=ctx.event,
        before_plan=before_plan,
        before_rank=before_rank,
    )
    return PROCESSED


HANDLERS: dict[str, Callable[[Context], Outcome]] = {
    "checkout.session.completed": checkout_completed,
    "customer.subscription.created": subscription_changed,
    "customer.subscription.updated": subscription_changed,
    "customer.subscription.deleted": subscription_changed,
    "customer.subscription.trial_will_end": subscription_trial_will_end,
    "invoice.paid": invoice_paid,
    "invoice.payment_failed": invoice_payment_failed,
}
HANDLED_TYPES = tuple(HANDLERS)


# Processing one stored event ---------------------------------------------------------------

# How the reason of an event refused for its API version starts (the admin looks for it).
UNSUPPORTED_VERSION = "Unsupported Stripe API version"


def event_version_problem(api_version: object) -> str:
    """Why the handlers cannot read an event rendered in ``api_version``, or "" when they
    can: any version of the pinned version's release (``2026-…-…endive``)."""
    if isinstance(api_version, str) and api_version.rpartition(".")[2] == API_RELEASE:
        return ""
    rendered = f"version {api_version}" if api_version else "no API version"
    return (
        f"{UNSUPPORTED_VERSION}: the event is rendered in {rendered}, and Handoff reads "
        f"version {API_VERSION} (or another “{API_RELEASE}” version). Nothing was applied. "
        f"Create the webhook endpoint with API version {API_VERSION} (README, “Going live on "
        "Stripe”; manage.py stripe_check tells what is missing); meanwhile manage.py "
        "reconcile_stripe repairs the subscriptions from Stripe."
    )


def _process_once(*, event_id: int, fetched: dict[str, Any] | None) -> str:
    with transaction.atomic():
        event = StripeEvent.objects.select_for_update().filter(pk=event_id).first()
        if event is None:
            return "missing"
        if event.status in DONE:
            return event.status
        handler = HANDLERS.get(event.type)
        if handler is None:
            outcome = _skipped(f"{event.type} is not handled")
        elif problem := event_version_problem(event.payload.get("api_version")):
            logger.warning("stripe event %s refused: %s", event.stripe_id, problem)
            outcome = Outcome(StripeEvent.Status.FAILED, problem)
        else:
            outcome = handler(
                Context(event=event, at=event.created, obj=event.object, fetched=fetched)
            )
        event.status = outcome.status
        event.error = outcome.reason
        event.attempts += 1
        event.processed_at = timezone.now()
        event.save(update_fields=["status", "error", "attempts", "processed_at"])
        return event.status


# Errors that say "try again later", not "this event is wrong".
TRANSIENT_ERRORS = (StripeUnavailable, OperationalError, SoftTimeLimitExceeded)


def _failure_record(event_id: int, exc: BaseException) -> None:
    """A transient error (Stripe or the database unreachable, a time limit) leaves the event
    pending, so the task's retries and, after them, the periodic requeue try again; any other
    error marks it failed for a billing admin to fix and replay."""
    status = (
        StripeEvent.Status.PENDING
        if isinstance(exc, TRANSIENT_ERRORS)
        else StripeEvent.Status.FAILED
    )
    try:
        StripeEvent.objects.filter(pk=event_id).exclude(status__in=DONE).update(
            status=status,
            error=f"{type(exc).__name__}: {exc}"[:4000],
            attempts=F("attempts") + 1,
        )
    except Exception:  # the database itself may be what failed; the retry will tell
        logger.exception("stripe event %s: could not record the failure", event_id)


def stripe_event_process(*, event_id: int) -> str:
    """Process one stored Stripe event once: returns its status afterwards ("processed",
    "skipped", or "missing" when there is no such event). Safe to run twice and
    concurrently (the event row is locked; a done event returns at once). On an error the
    event records it with one more attempt (staying pending when the error is transient,
    failed otherwise), and the error is raised again for the task to retry."""
    fetched: dict[str, Any] | None = None
    try:
        for _ in range(MAX_FETCHES + 1):
            try:
                return _process_once(event_id=event_id, fetched=fetched)
            except FetchNeeded as need:
                logger.info("stripe event %s: %s", event_id, need)
                fetched = gateway().subscription_retrieve(need.subscription_id)
        raise RuntimeError("the subscription kept changing while it was being fetched")
    except Exception as exc:
        _failure_record(event_id, exc)
        raise
