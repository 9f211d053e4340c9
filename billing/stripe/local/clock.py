"""Time: each customer has its own clock, wall-clock time plus an offset that only the
staff-only time tool moves forward (Stripe's test clocks, simplified). Advancing a clock
runs what falls due — trial ends, renewals, cancellations at period end — and emits their
events. Events are stamped with wall-clock time, so their order stays the order they were
sent in.
"""

import copy
from datetime import datetime, timedelta

from django.utils import timezone

from billing.models import LocalStripeObject
from billing.stripe.local.events import _clock_time, _emit
from billing.stripe.local.payments import _invoice_create, _invoice_pay, _store_invoice_and_emit
from billing.stripe.local.proration import add_interval
from billing.stripe.local.shapes import LIVE_STATUSES, _dt, _item, _item_price, _period_line, _ts
from billing.stripe.local.store import _open_invoices, _save

TRIAL_WILL_END_NOTICE = timedelta(days=3)


def _customer_now(customer: LocalStripeObject) -> datetime:
    """The customer's clock: wall-clock time plus the offset the time tool added."""
    return timezone.now() + timedelta(seconds=customer.private.get("clock_offset", 0))


def _renew(customer: LocalStripeObject, sub: LocalStripeObject, now: datetime) -> None:
    """The current period (or trial) ended: start the next period, invoice it, charge it."""
    data = sub.data
    previous = {
        "items": copy.deepcopy(data["items"]),
        "latest_invoice": data["latest_invoice"],
        "status": data["status"],
    }
    item = _item(data)
    price = _item_price(data)
    start = _dt(item["current_period_end"])
    item["current_period_start"] = _ts(start)
    item["current_period_end"] = _ts(add_interval(start, price.interval))
    ends_trial = data["status"] == "trialing"
    invoice = _invoice_create(
        customer=customer,
        subscription=data,
        lines=[_period_line(data, "first period after the trial" if ends_trial else "renewal")],
        billing_reason="subscription_cycle",
        now=now,
    )
    paid = _invoice_pay(customer, invoice, now)
    data["latest_invoice"] = invoice["id"]
    unpaid_before = any(row.data["subscription"] == data["id"] for row in _open_invoices(customer))
    data["status"] = "active" if paid and not unpaid_before else "past_due"
    if previous["status"] == data["status"]:
        del previous["status"]
    _store_invoice_and_emit(customer, invoice, paid=paid, now=now)
    _emit(
        "customer.subscription.updated",
        data,
        previous=previous,
        automatic=True,
        clock_time=_clock_time(customer, now),
    )


def _end(customer: LocalStripeObject, sub: LocalStripeObject, now: datetime) -> None:
    """A subscription set to cancel at period end reached it (``now``)."""
    data = sub.data
    previous = {"status": data["status"], "ended_at": None}
    data["status"] = "canceled"
    data["ended_at"] = _item(data)["current_period_end"]
    _emit(
        "customer.subscription.deleted",
        data,
        previous=previous,
        automatic=True,
        clock_time=_clock_time(customer, now),
    )


def _run_due(customer: LocalStripeObject, now: datetime) -> None:
    """Run what falls due on the customer's clock: trial notices, trial ends, renewals and
    cancellations at period end, in order."""
    subscriptions = LocalStripeObject.objects.select_for_update().filter(
        object="subscription", data__customer=customer.stripe_id, data__status__in=LIVE_STATUSES
    )
    for sub in subscriptions.order_by("created", "id"):
        data = sub.data
        if (
            data["status"] == "trialing"
            and data["trial_end"]
            and not sub.private.get("trial_will_end_sent")
            and _ts(now) >= data["trial_end"] - int(TRIAL_WILL_END_NOTICE.total_seconds())
        ):
            sub.private["trial_will_end_sent"] = True
            _emit(
                "customer.subscription.trial_will_end",
                data,
                automatic=True,
                clock_time=_clock_time(customer, now),
            )
        while data["status"] in LIVE_STATUSES and _item(data)["current_period_end"] <= _ts(now):
            moment = _dt(_item(data)["current_period_end"])
            if data["cancel_at_period_end"]:
                _end(customer, sub, moment)
            else:
                _renew(customer, sub, moment)
        _save(sub)
    _save(customer)
