"""The offline local gateway: Stripe's part, played inside Handoff when no Stripe key is set
(the embedded default), the way Saleor ships a dummy payment gateway.

"Stripe's side" lives in one table, ``billing.LocalStripeObject``: customers, payment
methods, checkout sessions, subscriptions, invoices, portal sessions and events, each in
exactly the JSON shape Stripe's API sends. Every change emits Stripe-shaped ``event``
objects, signed with Stripe's scheme and POSTed to the webhook endpoint Stripe itself would
call, by a Celery task enqueued once the change commits. So the whole real webhook path runs
offline: signature check, storage, processing, the mirror and the revenue ledger.

One module per concern:

* ``shapes`` — Stripe's JSON objects, ids and timestamps;
* ``proration`` — billing periods and what a change costs;
* ``store`` — the ``LocalStripeObject`` rows;
* ``events`` — emitting events; ``delivery`` — posting them (the Celery task);
* ``payments`` — test cards, invoices and charging them;
* ``clock`` — each customer's clock: trial ends, renewals, cancellations at period end;
* ``gateway`` — ``LocalGateway``, what callers use;
* ``views`` — the stand-ins for Stripe's hosted pages and the staff time tool.
"""

from billing.stripe.local.delivery import (
    event_body,
    event_deliver,
    event_delivered,
    local_event_deliver,
    webhook_url,
)
from billing.stripe.local.gateway import CheckoutUnavailable, LocalGateway
from billing.stripe.local.payments import CardDeclined
from billing.stripe.local.proration import add_interval, prorated

__all__ = [
    "CardDeclined",
    "CheckoutUnavailable",
    "LocalGateway",
    "add_interval",
    "event_body",
    "event_deliver",
    "event_delivered",
    "local_event_deliver",
    "prorated",
    "webhook_url",
]
