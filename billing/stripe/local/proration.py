"""Billing periods and proration, in integer cents.

* An item's amount is its price's unit amount times its quantity, for one period.
* Unused time of the old item is credited and the new item is charged pro rata by the
  seconds left in the current period: ``amount x seconds left ÷ seconds in the period``,
  each line rounded to the nearest cent (halves up).
* Changing the interval (monthly ↔ yearly) starts a new period now: the old item's unused
  time is credited and a whole period of the new item is charged.
* During a trial nothing is prorated: the new item is what the trial converts to.
* What is due now is the charge less the credit less any credit balance, never below zero;
  what is left over stays as the customer's credit balance (Stripe's ``balance``, negative)
  and is taken off the next invoices. A change that costs something is invoiced and paid at
  once (Stripe's ``proration_behavior=always_invoice``).
"""

import calendar
from dataclasses import dataclass
from datetime import datetime

from billing.models import Price
from billing.stripe.local.shapes import Line, _dt, _item, _item_amount, _item_price, _ts


def add_interval(moment: datetime, interval: str, count: int = 1) -> datetime:
    """One billing interval later, on the same day of the month (clamped to the month's
    last day, as Stripe does: Jan 31 + 1 month = Feb 28/29)."""
    months = count * (12 if interval == "year" else 1)
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _round_half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


def prorated(amount_cents: int, *, seconds_left: int, seconds_in_period: int) -> int:
    """``amount`` for the part of the period left, in whole cents (halves up)."""
    if seconds_in_period <= 0:
        return 0
    seconds_left = max(0, min(seconds_left, seconds_in_period))
    return _round_half_up(amount_cents * seconds_left, seconds_in_period)


@dataclass(frozen=True)
class Change:
    """A subscription change worked out: the proration lines and what the item becomes."""

    lines: tuple[Line, ...]
    amount_due_now: int
    next_amount: int
    next_billing_at: int
    period_start: int
    period_end: int
    resets_period: bool


def _change(
    *, subscription: dict, customer: dict, price: Price, seats: int, now: datetime
) -> Change:
    """Proration of a change (see the module docstring for the rules)."""
    item = _item(subscription)
    old_price = _item_price(subscription)
    old_amount = _item_amount(subscription)
    new_amount = price.amount_cents * seats
    start, end = item["current_period_start"], item["current_period_end"]
    moment = min(max(_ts(now), start), end)
    trialing = subscription["status"] == "trialing"
    lines: list[Line] = []
    resets = price.interval != old_price.interval and not trialing
    if resets:
        start, end = moment, _ts(add_interval(_dt(moment), price.interval))
    if not trialing:
        credit = prorated(
            old_amount,
            seconds_left=item["current_period_end"] - moment,
            seconds_in_period=item["current_period_end"] - item["current_period_start"],
        )
        if credit:
            lines.append(
                Line(
                    amount=-credit,
                    description=f"Unused time on {item['quantity']} x {old_price.plan.name}",
                    price=old_price,
                    quantity=item["quantity"],
                    start=moment,
                    end=item["current_period_end"],
                    proration=True,
                )
            )
        charge = (
            new_amount
            if resets
            else prorated(new_amount, seconds_left=end - moment, seconds_in_period=end - start)
        )
        if charge:
            lines.append(
                Line(
                    amount=charge,
                    description=f"{'' if resets else 'Remaining time on '}{seats} x "
                    f"{price.plan.name}",
                    price=price,
                    quantity=seats,
                    start=moment,
                    end=end,
                    proration=not resets,
                )
            )
    net = sum(line.amount for line in lines)
    due = max(0, net + customer["balance"]) if net > 0 else 0
    next_at = subscription["trial_end"] if trialing else end
    return Change(
        lines=tuple(lines),
        amount_due_now=due,
        next_amount=new_amount,
        next_billing_at=next_at,
        period_start=start,
        period_end=end,
        resets_period=resets,
    )
