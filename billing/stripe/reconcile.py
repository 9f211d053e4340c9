"""Reconciliation with Stripe: recover the events Stripe sent that never arrived, then
compare every paid subscription with Stripe's and repair the drift.

Run nightly (``stripe_reconcile`` in the beat schedule) and by hand with
``manage.py reconcile_stripe``. Each change is described in one line.
"""

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from billing.models import StripeEvent, Subscription
from billing.selectors import default_free_plan
from billing.stripe.client import StripeRefused
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
from billing.stripe.objects import StripeDataError, subscription_state
from billing.stripe.processing import stripe_event_apply

logger = logging.getLogger(__name__)

RECOVERY_WINDOW = timedelta(days=3)


def _describe(subscription: Subscription) -> str:
    seats = f", {subscription.seats} seats" if subscription.price_id else ""
    return f"{subscription.plan.code}{seats}, {subscription.status}"


def _as_sent(event: dict[str, Any]) -> dict[str, Any]:
    """The event as a webhook carries it: the client reads ``*_decimal`` strings as
    Decimals, which go back to the strings Stripe sent."""
    return json.loads(json.dumps(event, default=str))


def events_recover(*, now: datetime) -> list[str]:
    """Store the handled events of the last three days that Stripe holds and we do not
    (an undelivered webhook), and process them, oldest first; also process the ones stored
    but still pending."""
    since = int((now - RECOVERY_WINDOW).timestamp())
    events = sorted(
        map(_as_sent, gateway().events_since(created_gte=since, types=list(HANDLED_TYPES))),
        key=lambda event: (event.get("created", 0), event.get("id", "")),
    )
    changes = []
    for event in events:
        try:
            new_id = stripe_event_store(event=event)
        except EventMalformed as exc:
            changes.append(f"event {event.get('id')}: not stored ({exc})")
            continue
        if new_id is None:  # stored before: process it only if it is still pending
            new_id = (
                StripeEvent.objects.filter(stripe_id=event["id"], status=StripeEvent.Status.PENDING)
                .values_list("pk", flat=True)
                .first()
            )
            if new_id is None:
                continue
            label = "processed pending"
        else:
            label = "recovered"
        try:
            status = stripe_event_apply(event_id=new_id)
        except Exception as exc:  # recorded on the event; the admin shows it for a replay
            changes.append(f"{label} {event['id']} ({event['type']}): failed, {exc}")
            continue
        changes.append(f"{label} {event['id']} ({event['type']}): {status}")
    return changes


def subscription_drift_repair(*, subscription_id: int, now: datetime) -> str | None:
    """Compare one mirrored subscription with Stripe's and apply Stripe's state when they
    differ; the MRR difference is recorded as a movement without an event. Returns the
    change made, or None. Stripe is called before any lock is taken."""
    row = Subscription.objects.filter(pk=subscription_id).first()
    if row is None or not row.stripe_subscription_id:
        return None
    stripe_id = row.stripe_subscription_id
    watermark_before = row.stripe_watermark
    try:
        remote = gateway().subscription_retrieve(stripe_id)
    except StripeRefused as exc:
        return f"workspace {row.workspace_id}: Stripe has no subscription {stripe_id} ({exc})"
    try:
        with transaction.atomic():
            discounts_remember(remote)
        state = subscription_state(remote, at=now)
        if state.status is None:
            return None
        target = mirror_target(state, default_free_plan())
    except StripeDataError as exc:
        return f"workspace {row.workspace_id}: cannot mirror {stripe_id}: {exc}"
    with transaction.atomic():
        subscription = subscription_lock(row)
        if subscription.stripe_subscription_id != stripe_id:
            return None  # re-linked meanwhile
        if subscription.stripe_watermark != watermark_before:
            return None  # a webhook applied newer state meanwhile; the next run compares again
        if not mirror_differs(subscription, target):
            return None
        before, mrr_before = _describe(subscription), subscription.mrr_cents
        # Stripe's state now is the newest there is, even if Stripe's clock runs ahead of
        # ours; the watermark stays, for the events still on their way.
        at = max(now, subscription.stripe_watermark or now)
        revenue_state_place(subscription, state, at=at, event=None)
        outcome = subscription_state_apply(
            subscription, state, at=at, event=None, authoritative=True, move_watermark=False
        )
        if outcome.status != StripeEvent.Status.PROCESSED:
            return None
        slug = subscription.workspace.slug
        return (
            f"{slug}: {before} → {_describe(subscription)} from Stripe {stripe_id}, "
            f"MRR {mrr_before} → {subscription.mrr_cents} {subscription.currency}"
        )


def unmirrored_live_subscriptions_repair(*, now: datetime) -> list[str]:
    """Live Stripe subscriptions that no workspace mirrors (their events arrived out of
    order behind an older subscription's end, say): a workspace named in the metadata whose
    mirror is not live takes it; one already mirroring another live subscription is
    reported (the customer pays twice)."""
    mirrored = set(
        Subscription.objects.exclude(stripe_subscription_id="").values_list(
            "stripe_subscription_id", flat=True
        )
    )
    changes = []
    for remote in gateway().subscriptions():
        try:
            state = subscription_state(remote, at=now)
        except StripeDataError:
            continue
        workspace_id = (remote.get("metadata") or {}).get("workspace_id")
        if not state.is_live or state.subscription_id in mirrored or not workspace_id:
            continue
        row = Subscription.objects.filter(workspace_id=workspace_id).first()
        if row is None:
            continue
        with transaction.atomic():
            subscription = subscription_lock(row)
            if subscription.is_paid:
                changes.append(
                    f"{subscription.workspace.slug}: a second live subscription "
                    f"{state.subscription_id} besides {subscription.stripe_subscription_id}: "
                    "cancel one in Stripe"
                )
                continue
            before, mrr_before = _describe(subscription), subscription.mrr_cents
            at = max(now, subscription.stripe_watermark or now)
            revenue_state_place(subscription, state, at=at, event=None)
            outcome = subscription_state_apply(
                subscription, state, at=at, event=None, authoritative=True, move_watermark=False
            )
            if outcome.status == StripeEvent.Status.PROCESSED:
                changes.append(
                    f"{subscription.workspace.slug}: {before} → {_describe(subscription)} "
                    f"from the unmirrored Stripe {state.subscription_id}, "
                    f"MRR {mrr_before} → {subscription.mrr_cents} {subscription.currency}"
                )
    return changes


def stripe_reconcile(
    *, now: datetime | None = None, report: Callable[[str], object] | None = None
) -> list[str]:
    """Recover undelivered events, then repair every paid subscription that drifted from
    Stripe. Returns one line per change (empty when there was nothing to repair); each is
    also passed to ``report`` as soon as it is made. ``StripeUnavailable`` stops the run
    (what was done stays done; the next run carries on)."""
    now = now or timezone.now()
    changes = events_recover(now=now)
    for change in changes:
        if report is not None:
            report(change)
    paid = (
        Subscription.objects.exclude(stripe_subscription_id="")
        .exclude(status=Subscription.Status.CANCELED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for subscription_id in list(paid):
        change = subscription_drift_repair(subscription_id=subscription_id, now=now)
        if change:
            changes.append(change)
            if report is not None:
                report(change)
    for change in unmirrored_live_subscriptions_repair(now=now):
        changes.append(change)
        if report is not None:
            report(change)
    return changes
