"""Reconciliation with Stripe, in bounded chunks: recover the events Stripe sent that never
arrived, then compare every subscription Stripe holds with the mirror and repair the drift.

A run (``StripeReconcileRun``) walks four phases, one page at a time:

1. **events**: Stripe's list of the handled events of the last three days, 100 a call,
   each stored if we never received it (``stripe_event_store``: once, by its unique id);
2. **pending**: the events of those three days still pending here, oldest first, applied;
3. **subscriptions**: Stripe's list of every subscription, 100 a call (not one call per
   subscription), each compared with its mirror and Stripe's state applied where they
   differ; a live one no workspace mirrors is taken by the workspace its metadata names;
4. **missing**: the paid mirrors the list did not show, fetched one by one (Stripe has
   none of that id: reported).

Every call to Stripe is paced (``billing.stripe.pacing``: ``HANDOFF_STRIPE_RECONCILE_RATE``
a second, backing off on a 429). After each page the run stores its phase and cursor (the
last object done) and renews its lease; one chunk does at most a given number of pages
(``HANDOFF_STRIPE_RECONCILE_PAGES_PER_TASK`` for the Celery task, which then queues the next
chunk). A chunk that dies leaves its lease to expire (``HANDOFF_STRIPE_RECONCILE_LEASE_SECONDS``),
and the next chunk carries on from the last page stored; while the lease holds, no other
chunk starts (``ReconcileBusy``).

Run nightly (``stripe_reconcile`` in the beat schedule) and by hand with
``manage.py reconcile_stripe``. Each change is described in one line.
"""

import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.errors import Conflict
from billing.models import StripeEvent, StripeReconcileRun, Subscription
from billing.selectors import default_free_plan
from billing.stripe.client import PAGE_SIZE, StripeRefused
from billing.stripe.gateway import gateway
from billing.stripe.handlers import HANDLED_TYPES
from billing.stripe.inbox import EventMalformed, stripe_event_store
from billing.stripe.mirror import (
    discounts_remember,
    mirror_differs,
    mirror_target,
    revenue_state_place,
    subscription_lock,
    subscription_state_apply,
)
from billing.stripe.objects import (
    LIVE_STATUSES,
    StripeDataError,
    SubscriptionState,
    subscription_state,
)
from billing.stripe.pacing import Pacer
from billing.stripe.processing import stripe_event_apply

logger = logging.getLogger(__name__)

RECOVERY_WINDOW = timedelta(days=3)
Phase = StripeReconcileRun.Phase


class ReconcileBusy(Conflict):
    """Another chunk holds the open run's lease (it is working on it, or died less than a
    lease ago)."""

    def __init__(self, run: StripeReconcileRun | None) -> None:
        until = f" until {run.leased_until:%Y-%m-%d %H:%M:%S} UTC" if run is not None else ""
        super().__init__(
            f"Another reconciliation is running{until}: this one carries on from where it "
            "stops once its lease has passed."
        )


class LeaseLost(Exception):
    """The run was taken over by another chunk (this one's lease had expired)."""


@dataclass
class ChunkResult:
    """What one chunk did: the run, whether the run is finished, the changes made."""

    run_id: int
    done: bool
    changes: list[str] = field(default_factory=list)


def _describe(subscription: Subscription) -> str:
    seats = f", {subscription.seats} seats" if subscription.price_id else ""
    return f"{subscription.plan.code}{seats}, {subscription.status}"


def _as_sent(event: dict[str, Any]) -> dict[str, Any]:
    """The event as a webhook carries it: the client reads ``*_decimal`` strings as
    Decimals, which go back to the strings Stripe sent."""
    return json.loads(json.dumps(event, default=str))


# Repairs ---------------------------------------------------------------------------------


def _state_apply(
    row: Subscription, remote: dict[str, Any], *, at: datetime, fetched_at: datetime
) -> str | None:
    """Apply Stripe's state of the subscription the mirror row holds (fetched at
    ``fetched_at``, before any lock) when they differ; the MRR difference is recorded as a
    movement without an event. Returns the change made, or None."""
    stripe_id = row.stripe_subscription_id
    try:
        with transaction.atomic():
            discounts_remember(remote)
        state = subscription_state(remote, at=at)
        if state.status is None:
            return None
        target = mirror_target(state, default_free_plan())
    except StripeDataError as exc:
        return f"workspace {row.workspace_id}: cannot mirror {stripe_id}: {exc}"
    with transaction.atomic():
        subscription = subscription_lock(row)
        if subscription.stripe_subscription_id != stripe_id:
            return None  # re-linked meanwhile
        if subscription.updated_at >= fetched_at:
            # A webhook (or anything else) wrote the mirror after Stripe answered: what was
            # fetched may be older than what is applied. The next run compares again.
            return None
        if not mirror_differs(subscription, target):
            return None
        return _state_impose(subscription, state, at=at, source=f"Stripe {stripe_id}")


def _unmirrored_apply(remote: dict[str, Any], *, at: datetime) -> str | None:
    """A live Stripe subscription that no workspace mirrors (its events arrived out of
    order behind an older subscription's end, say): a workspace named in the metadata whose
    mirror is not live takes it; one already mirroring another live subscription is
    reported (the customer pays twice)."""
    try:
        state = subscription_state(remote, at=at)
    except StripeDataError:
        return None
    workspace_id = (remote.get("metadata") or {}).get("workspace_id")
    if not state.is_live or not workspace_id:
        return None
    row = Subscription.objects.filter(workspace_id=workspace_id).first()
    if row is None:
        return None
    with transaction.atomic():
        subscription = subscription_lock(row)
        if subscription.stripe_subscription_id == state.subscription_id:
            return None  # linked meanwhile
        if subscription.is_paid:
            return (
                f"{subscription.workspace.slug}: a second live subscription "
                f"{state.subscription_id} besides {subscription.stripe_subscription_id}: "
                "cancel one in Stripe"
            )
        return _state_impose(
            subscription, state, at=at, source=f"the unmirrored Stripe {state.subscription_id}"
        )


def _state_impose(
    subscription: Subscription, state: SubscriptionState, *, at: datetime, source: str
) -> str | None:
    """Applies Stripe's fetched ``state`` to the locked mirror and records the change in the
    ledger; the line that reports the repair, or None if nothing was applied."""
    before, mrr_before = _describe(subscription), subscription.mrr_cents
    # Stripe's state now is the newest there is, even if Stripe's clock runs ahead of ours;
    # the watermark stays, for the events still on their way.
    at = max(at, subscription.stripe_watermark or at)
    revenue_state_place(subscription, state, at=at, event=None)
    outcome = subscription_state_apply(
        subscription, state, at=at, event=None, authoritative=True, move_watermark=False
    )
    if outcome.status != StripeEvent.Status.PROCESSED:
        return None
    return (
        f"{subscription.workspace.slug}: {before} → {_describe(subscription)} from {source}, "
        f"MRR {mrr_before} → {subscription.mrr_cents} {subscription.currency}"
    )


# The phases: each does one page and says where the run goes next ---------------------------

Step = tuple[list[str], str, str]  # changes, next phase, next cursor


def _events_step(run: StripeReconcileRun, pacer: Pacer, now: datetime | None) -> Step:
    """Store the events of one page of Stripe's list that never arrived."""
    since = int(run.recover_since.timestamp())
    data, more = pacer.call(
        lambda: gateway().events_page(
            created_gte=since, types=list(HANDLED_TYPES), starting_after=run.cursor
        )
    )
    changes = []
    for event in map(_as_sent, data):
        try:
            stripe_event_store(event=event)
        except EventMalformed as exc:
            changes.append(f"event {event.get('id')}: not stored ({exc})")
    if more and data:
        return changes, Phase.EVENTS, data[-1]["id"]
    return changes, Phase.PENDING, ""


def _pending_step(run: StripeReconcileRun, pacer: Pacer, now: datetime | None) -> Step:
    """Apply one page of the events of the recovery window still pending, oldest first
    (the cursor is the last one's ``created`` and id)."""
    pending = StripeEvent.objects.filter(
        status=StripeEvent.Status.PENDING, created__gte=run.recover_since
    )
    if run.cursor:
        created, _, pk = run.cursor.partition("|")
        after = datetime.fromisoformat(created)
        pending = pending.filter(Q(created__gt=after) | Q(created=after, pk__gt=int(pk)))
    rows = list(
        pending.order_by("created", "pk").values_list(
            "pk", "stripe_id", "type", "received_at", "created"
        )[:PAGE_SIZE]
    )
    changes = []
    for pk, stripe_id, event_type, received_at, _ in rows:
        label = "recovered" if received_at >= run.started_at else "processed pending"
        try:
            status = stripe_event_apply(event_id=pk)
        except Exception as exc:  # recorded on the event; the admin shows it for a replay
            changes.append(f"{label} {stripe_id} ({event_type}): failed, {exc}")
            continue
        changes.append(f"{label} {stripe_id} ({event_type}): {status}")
    if len(rows) == PAGE_SIZE:
        pk, *_, created = rows[-1]
        return changes, Phase.PENDING, f"{created.isoformat()}|{pk}"
    return changes, Phase.SUBSCRIPTIONS, ""


def _subscriptions_step(run: StripeReconcileRun, pacer: Pacer, now: datetime | None) -> Step:
    """Compare one page of Stripe's subscriptions with their mirrors and repair."""
    fetched_at = timezone.now()
    data, more = pacer.call(lambda: gateway().subscriptions_page(starting_after=run.cursor))
    at = now or fetched_at
    mirrors = {
        row.stripe_subscription_id: row
        for row in Subscription.objects.filter(
            stripe_subscription_id__in=[remote["id"] for remote in data]
        ).only("pk", "workspace_id", "stripe_subscription_id", "status")
    }
    changes = []
    for remote in data:
        row = mirrors.get(remote["id"])
        if row is None:
            change = _unmirrored_apply(remote, at=at)
        elif row.status == Subscription.Status.CANCELED and remote.get("status") not in (
            LIVE_STATUSES
        ):
            change = None  # ended here and there
        else:
            change = _state_apply(row, remote, at=at, fetched_at=fetched_at)
        if change:
            changes.append(change)
    Subscription.objects.filter(pk__in=[row.pk for row in mirrors.values()]).update(
        stripe_listed_at=run.started_at
    )
    if more and data:
        return changes, Phase.SUBSCRIPTIONS, data[-1]["id"]
    return changes, Phase.MISSING, ""


def _missing_step(run: StripeReconcileRun, pacer: Pacer, now: datetime | None) -> Step:
    """Fetch one page of the paid mirrors Stripe's list did not show (created meanwhile,
    or unknown to Stripe) and repair them; the cursor is the last one's pk."""
    rows = Subscription.objects.exclude(stripe_subscription_id="").exclude(
        status=Subscription.Status.CANCELED
    )
    rows = rows.filter(Q(stripe_listed_at__isnull=True) | Q(stripe_listed_at__lt=run.started_at))
    if run.cursor:
        rows = rows.filter(pk__gt=int(run.cursor))
    page = list(
        rows.order_by("pk").only("pk", "workspace_id", "stripe_subscription_id")[:PAGE_SIZE]
    )
    changes = []
    for row in page:
        fetched_at = timezone.now()
        stripe_id = row.stripe_subscription_id
        try:
            remote = pacer.call(
                lambda stripe_id=stripe_id: gateway().subscription_retrieve(stripe_id)
            )
        except StripeRefused as exc:
            changes.append(
                f"workspace {row.workspace_id}: Stripe has no subscription {stripe_id} ({exc})"
            )
            continue
        change = _state_apply(row, remote, at=now or fetched_at, fetched_at=fetched_at)
        if change:
            changes.append(change)
    if len(page) == PAGE_SIZE:
        return changes, Phase.MISSING, str(page[-1].pk)
    return changes, Phase.DONE, ""


STEPS: dict[str, Callable[[StripeReconcileRun, Pacer, datetime | None], Step]] = {
    Phase.EVENTS: _events_step,
    Phase.PENDING: _pending_step,
    Phase.SUBSCRIPTIONS: _subscriptions_step,
    Phase.MISSING: _missing_step,
}


# The run and its lease --------------------------------------------------------------------


def _lease() -> timedelta:
    return timedelta(seconds=settings.HANDOFF_STRIPE_RECONCILE_LEASE_SECONDS)


def _run_take(*, now: datetime | None) -> tuple[StripeReconcileRun, str]:
    """The open run (a new one when there is none), leased to the caller: raises
    ``ReconcileBusy`` while another chunk's lease holds."""
    token = secrets.token_hex(16)
    started = timezone.now()
    with transaction.atomic():
        run = StripeReconcileRun.objects.select_for_update().filter(open=True).first()
        if run is None:
            try:
                with transaction.atomic():
                    run = StripeReconcileRun.objects.create(
                        started_at=started, recover_since=(now or started) - RECOVERY_WINDOW
                    )
            except IntegrityError:  # another chunk opened one meanwhile
                raise ReconcileBusy(None) from None
        elif run.leased_until is not None and run.leased_until > started:
            raise ReconcileBusy(run)
        elif run.lease_token:
            logger.warning(
                "reconcile: run %s taken over at %s/%s (its last chunk died)",
                run.pk,
                run.phase,
                run.cursor or "start",
            )
        run.leased_until = started + _lease()
        run.lease_token = token
        run.save(update_fields=["leased_until", "lease_token"])
    return run, token


def stripe_reconcile_chunk(
    *,
    pages: int,
    pacer: Pacer | None = None,
    now: datetime | None = None,
    report: Callable[[str], object] | None = None,
) -> ChunkResult:
    """Take the open reconciliation run (or start one) and do at most ``pages`` pages of
    it, storing the phase and cursor after each, so a chunk that dies is continued by the
    next from its last page. ``StripeUnavailable`` (Stripe unreachable, or still rate
    limited after the backoff) stops the chunk; what was done stays done."""
    pacer = pacer or Pacer()
    run, token = _run_take(now=now)
    result = ChunkResult(run_id=run.pk, done=False)
    try:
        for _ in range(pages):
            changes, phase, cursor = STEPS[run.phase](run, pacer, now)
            for change in changes:
                if report is not None:
                    report(change)
            result.changes += changes
            fields: dict[str, Any] = {
                "phase": phase,
                "cursor": cursor,
                "pages": F("pages") + 1,
                "changes": F("changes") + len(changes),
                "leased_until": timezone.now() + _lease(),
            }
            if phase == Phase.DONE:
                fields |= {"finished_at": timezone.now(), "open": False}
            if not StripeReconcileRun.objects.filter(pk=run.pk, lease_token=token).update(**fields):
                raise LeaseLost(f"run {run.pk} was taken over by another chunk")
            run.phase, run.cursor = phase, cursor
            if phase == Phase.DONE:
                result.done = True
                break
    finally:
        StripeReconcileRun.objects.filter(pk=run.pk, lease_token=token).update(
            leased_until=None, lease_token=""
        )
    return result


def stripe_reconcile(
    *,
    now: datetime | None = None,
    report: Callable[[str], object] | None = None,
    pacer: Pacer | None = None,
) -> list[str]:
    """A whole run, chunk after chunk (continuing the open run if one is left): returns
    one line per change (empty when there was nothing to repair); each is also passed to
    ``report`` as soon as it is made."""
    pacer = pacer or Pacer()
    changes: list[str] = []
    while True:
        result = stripe_reconcile_chunk(
            pages=settings.HANDOFF_STRIPE_RECONCILE_PAGES_PER_TASK,
            pacer=pacer,
            now=now,
            report=report,
        )
        changes += result.changes
        if result.done:
            return changes
