"""The local gateway: ``billing.stripe.interface.Gateway`` played offline, and what Stripe's
hosted pages and test clocks do (the local checkout page, the portal page, the time tool).
"""

import copy
import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from accounts.locks import workspace_lock
from accounts.models import Workspace
from billing.models import LocalStripeObject, Price, Subscription
from billing.stripe.client import PAGE_SIZE, StripeRefused
from billing.stripe.interface import ChangePreview, CheckoutStart
from billing.stripe.local.clock import _customer_now, _run_due
from billing.stripe.local.events import _clock_time, _emit
from billing.stripe.local.payments import (
    _card_attach,
    _invoice_create,
    _invoice_pay,
    _store_invoice_and_emit,
)
from billing.stripe.local.proration import _change, add_interval
from billing.stripe.local.shapes import (
    LIVE_STATUSES,
    Line,
    _checkout_session_object,
    _customer_object,
    _dt,
    _item,
    _item_object,
    _new_id,
    _period_line,
    _plan_object,
    _price_object,
    _subscription_object,
    _ts,
)
from billing.stripe.local.store import _get, _locked, _open_invoices, _save, _store
from billing.stripe.prices import price_for_stripe_id, stripe_price_id


class CheckoutUnavailable(StripeRefused):
    """The checkout session cannot be paid any more (completed or expired)."""

    status = 409


def _origin(url: str) -> str:
    parts = urlsplit(url or "")
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return settings.HANDOFF_SITE_URL.rstrip("/")


def _page(rows, starting_after: str) -> tuple[list[dict[str, Any]], bool]:
    """A page of ``PAGE_SIZE`` objects, newest first as Stripe lists them, after the object
    ``starting_after`` (keyset on creation time and row id), and whether there are more."""
    if starting_after:
        after = LocalStripeObject.objects.filter(stripe_id=starting_after).first()
        if after is None:
            return [], False
        rows = rows.filter(Q(created__lt=after.created) | Q(created=after.created, id__lt=after.pk))
    found = [row.data for row in rows.order_by("-created", "-id")[: PAGE_SIZE + 1]]
    return found[:PAGE_SIZE], len(found) > PAGE_SIZE


class LocalGateway:
    """Stripe's part, offline. Implements ``billing.stripe.interface.Gateway``; the methods
    after it are what Stripe's hosted pages and test clocks do (the local checkout page,
    the portal page, the time tool)."""

    local = True

    # Gateway ------------------------------------------------------------------------------

    @transaction.atomic
    def checkout_start(
        self,
        *,
        workspace: Workspace,
        price: Price,
        seats: int,
        customer_id: str,
        customer_email: str,
        success_url: str,
        cancel_url: str,
    ) -> CheckoutStart:
        if customer_id:
            _get(customer_id, "customer")
        now = timezone.now()
        session_id = _new_id("cs", 40)
        url = _origin(success_url) + reverse("local_checkout", args=[session_id])
        trial_days = price.plan.trial_days
        session = _checkout_session_object(
            session_id=session_id,
            workspace=workspace,
            customer_id=customer_id,
            customer_email=customer_email,
            amount_total=0 if trial_days else price.amount_cents * seats,
            currency=price.currency,
            success_url=success_url,
            cancel_url=cancel_url,
            url=url,
            created=_ts(now),
        )
        _store(
            session,
            private={
                "line_items": [{"price": stripe_price_id(price, local=True), "quantity": seats}],
                "subscription_data": {
                    "metadata": {"workspace_id": str(workspace.pk)},
                    "trial_period_days": trial_days or None,
                },
            },
        )
        return CheckoutStart(session_id=session_id, url=url)

    def subscription_retrieve(self, subscription_id: str) -> dict[str, Any]:
        return _get(subscription_id, "subscription").data

    def subscription_change_preview(
        self, *, subscription: Subscription, price: Price, seats: int
    ) -> ChangePreview:
        sub = _get(subscription.stripe_subscription_id, "subscription")
        customer = _get(sub.data["customer"], "customer")
        change = _change(
            subscription=sub.data,
            customer=customer.data,
            price=price,
            seats=seats,
            now=_customer_now(customer),
        )
        return ChangePreview(
            amount_due_now_cents=change.amount_due_now,
            next_amount_cents=change.next_amount,
            currency=price.currency,
            next_billing_at=_dt(change.next_billing_at),
        )

    @transaction.atomic
    def subscription_change(
        self, *, subscription: Subscription, price: Price, seats: int
    ) -> dict[str, Any]:
        # The customer first, then the subscription: the order every local change takes.
        customer = _locked(
            _get(subscription.stripe_subscription_id, "subscription").data["customer"], "customer"
        )
        sub = _locked(subscription.stripe_subscription_id, "subscription")
        data = sub.data
        if data["status"] not in LIVE_STATUSES:
            raise StripeRefused("This subscription has ended: start a new one.")
        if price.currency != data["currency"]:
            raise StripeRefused("A subscription's currency cannot change.")
        now = _customer_now(customer)
        change = _change(
            subscription=data, customer=customer.data, price=price, seats=seats, now=now
        )
        previous = {"items": copy.deepcopy(data["items"])}
        item = _item(data)
        item.update(
            price=_price_object(price),
            plan=_plan_object(price),
            quantity=seats,
            current_period_start=change.period_start,
            current_period_end=change.period_end,
        )
        if change.resets_period:
            previous["billing_cycle_anchor"] = data["billing_cycle_anchor"]
            data["billing_cycle_anchor"] = change.period_start
        invoice, paid = None, True
        if change.lines and sum(line.amount for line in change.lines) > 0:
            invoice = _invoice_create(
                customer=customer,
                subscription=data,
                lines=list(change.lines),
                billing_reason="subscription_update",
                now=now,
            )
            paid = _invoice_pay(customer, invoice, now)
            previous["latest_invoice"] = data["latest_invoice"]
            data["latest_invoice"] = invoice["id"]
            if not paid and data["status"] != "past_due":
                previous["status"] = data["status"]
                data["status"] = "past_due"
        elif change.lines:  # a credit: kept as the customer's balance for the next invoices
            customer.data["balance"] += sum(line.amount for line in change.lines)
        _save(sub)
        _save(customer)
        _emit(
            "customer.subscription.updated",
            data,
            previous=previous,
            clock_time=_clock_time(customer, now),
        )
        if invoice is not None:
            _store_invoice_and_emit(customer, invoice, paid=paid, now=now)
        return data

    @transaction.atomic
    def subscription_cancel_at_period_end(
        self, *, subscription: Subscription, cancel: bool, feedback: str, comment: str
    ) -> dict[str, Any]:
        sub = _locked(subscription.stripe_subscription_id, "subscription")
        customer = _get(sub.data["customer"], "customer")
        data = sub.data
        if data["status"] not in LIVE_STATUSES:
            raise StripeRefused("This subscription has ended.")
        if data["cancel_at_period_end"] == cancel:
            return data
        keys = ("cancel_at", "cancel_at_period_end", "canceled_at", "cancellation_details")
        previous = {key: copy.deepcopy(data[key]) for key in keys}
        if cancel:
            data.update(
                cancel_at=_item(data)["current_period_end"],
                cancel_at_period_end=True,
                canceled_at=_ts(_customer_now(customer)),
                cancellation_details={
                    "comment": comment or None,
                    "feedback": feedback or None,
                    "reason": "cancellation_requested",
                },
            )
        else:
            data.update(
                cancel_at=None,
                cancel_at_period_end=False,
                canceled_at=None,
                cancellation_details={"comment": None, "feedback": None, "reason": None},
            )
        _save(sub)
        _emit(
            "customer.subscription.updated",
            data,
            previous=previous,
            clock_time=_clock_time(customer, _customer_now(customer)),
        )
        return data

    @transaction.atomic
    def portal_url(self, *, subscription: Subscription, return_url: str) -> str:
        customer = _get(subscription.stripe_customer_id, "customer")
        session_id = _new_id("bps")
        url = (
            _origin(return_url)
            + reverse("local_portal", args=[customer.stripe_id])
            + f"?session={session_id}"
        )
        _store(
            {
                "configuration": "bpc_local_default",
                "created": _ts(timezone.now()),
                "customer": customer.stripe_id,
                "customer_account": None,
                "flow": None,
                "id": session_id,
                "livemode": False,
                "locale": None,
                "object": "billing_portal.session",
                "on_behalf_of": None,
                "return_url": return_url,
                "url": url,
            }
        )
        return url

    def events_since(self, *, created_gte: int, types: list[str]) -> Iterator[dict[str, Any]]:
        """Events created at or after ``created_gte`` of the given types, newest first (as
        Stripe lists them)."""
        rows = LocalStripeObject.objects.filter(object="event", created__gte=_dt(created_gte))
        if types:
            rows = rows.filter(data__type__in=types)
        for row in rows.order_by("-created", "-id").iterator():
            yield row.data

    def subscriptions(self) -> Iterator[dict[str, Any]]:
        """Every local subscription, ended ones included, newest first."""
        rows = LocalStripeObject.objects.filter(object="subscription")
        for row in rows.order_by("-created", "-id").iterator():
            yield row.data

    def events_page(
        self, *, created_gte: int, types: list[str], starting_after: str = ""
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page of ``events_since``, after the event ``starting_after``."""
        rows = LocalStripeObject.objects.filter(object="event", created__gte=_dt(created_gte))
        if types:
            rows = rows.filter(data__type__in=types)
        return _page(rows, starting_after)

    def subscriptions_page(self, *, starting_after: str = "") -> tuple[list[dict[str, Any]], bool]:
        """One page of ``subscriptions``, after the subscription ``starting_after``."""
        return _page(LocalStripeObject.objects.filter(object="subscription"), starting_after)

    # Stripe's hosted pages ----------------------------------------------------------------

    def checkout_session(self, session_id: str) -> LocalStripeObject:
        return _get(session_id, "checkout.session")

    def checkout_session_price(self, session: LocalStripeObject) -> tuple[Price, int]:
        line = session.private["line_items"][0]
        price = price_for_stripe_id(line["price"])
        if price is None:
            raise StripeRefused(f"No such price: “{line['price']}”.")
        return price, line["quantity"]

    @transaction.atomic
    def checkout_complete(
        self, *, session_id: str, card_number: str, test_clock_at: datetime | None = None
    ) -> dict[str, Any]:
        """Pay a checkout session with a test card: the customer (created if new), the
        card, the subscription and its first invoice, then ``checkout.session.completed``,
        ``customer.subscription.created`` and ``invoice.paid`` (or
        ``invoice.payment_failed``: the subscription is then past due).

        ``test_clock_at`` creates a new customer on a test clock frozen at that time, past
        or future, as Stripe's test clocks allow: its objects and events carry the clock's
        time from then on, and ``clock_advance`` moves it forward. The demo data uses it to
        record a history of purchases that happened in the past."""
        # The workspace row first (the order every change takes): two tabs completing two
        # checkouts run one after the other, and the second finds the first's subscription.
        workspace_id = _get(session_id, "checkout.session").data["metadata"]["workspace_id"]
        workspace_lock(int(workspace_id))
        session = _locked(session_id, "checkout.session")
        data = session.data
        if data["status"] != "open":
            raise CheckoutUnavailable(f"This checkout session is {data['status']}.")
        if _ts(timezone.now()) >= data["expires_at"]:
            raise CheckoutUnavailable("This checkout session has expired: start again.")
        price, quantity = self.checkout_session_price(session)
        workspace_id = data["metadata"]["workspace_id"]

        if data["customer"]:
            customer = _locked(data["customer"], "customer")
        else:
            workspace = Workspace.objects.filter(pk=workspace_id).first()
            wall = timezone.now()
            customer_data = _customer_object(
                customer_id=_new_id("cus", 14),
                email=data["customer_email"] or "",
                workspace=workspace,
                created=_ts(test_clock_at or wall),
            )
            offset = 0
            if test_clock_at is not None:
                customer_data["test_clock"] = _new_id("clock")
                offset = math.floor((test_clock_at - wall).total_seconds())
            customer = _store(
                customer_data,
                private={"origin": _origin(data["success_url"]), "clock_offset": offset},
            )
        live = LocalStripeObject.objects.filter(
            object="subscription",
            data__metadata__workspace_id=workspace_id,
            data__status__in=LIVE_STATUSES,
        )
        if live.exists():
            raise CheckoutUnavailable(
                "This workspace already has a subscription: change it from the billing page."
            )
        now = _customer_now(customer)
        _card_attach(customer, card_number, now)

        subscription_id = _new_id("sub")
        trial_days = session.private["subscription_data"].get("trial_period_days")
        start = now
        if trial_days:
            end = start + timedelta(days=trial_days)
        else:
            end = add_interval(start, price.interval)
        item = _item_object(
            item_id=_new_id("si", 14),
            subscription_id=subscription_id,
            price=price,
            quantity=quantity,
            start=_ts(start),
            end=_ts(end),
        )
        subscription = _subscription_object(
            subscription_id=subscription_id,
            customer=customer.data,
            item=item,
            metadata=dict(session.private["subscription_data"]["metadata"]),
            status="trialing" if trial_days else "active",
            start=_ts(start),
            trial_end=_ts(end) if trial_days else None,
        )
        subscription["test_clock"] = customer.data.get("test_clock")
        line = _period_line(subscription, "first period")
        if trial_days:
            line = Line(
                amount=0,
                description=f"Trial period for {quantity} x {price.plan.name}",
                price=price,
                quantity=quantity,
                start=item["current_period_start"],
                end=item["current_period_end"],
            )
        invoice = _invoice_create(
            customer=customer,
            subscription=subscription,
            lines=[line],
            billing_reason="subscription_create",
            now=now,
        )
        paid = _invoice_pay(customer, invoice, now)
        if not paid:
            subscription["status"] = "past_due"
        subscription["latest_invoice"] = invoice["id"]
        _store(subscription)
        _save(customer)

        data.update(
            customer=customer.stripe_id,
            customer_details={
                "address": None,
                "business_name": None,
                "email": customer.data["email"],
                "individual_name": None,
                "name": customer.data["name"],
                "phone": None,
                "tax_exempt": "none",
                "tax_ids": [],
            },
            invoice=invoice["id"],
            payment_status=(
                "no_payment_required" if trial_days else ("paid" if paid else "unpaid")
            ),
            status="complete",
            subscription=subscription_id,
        )
        _save(session)
        clock_time = _clock_time(customer, now)
        _emit("checkout.session.completed", data, clock_time=clock_time)
        _emit("customer.subscription.created", subscription, clock_time=clock_time)
        _store_invoice_and_emit(customer, invoice, paid=paid, now=now)
        return data

    def customer(self, customer_id: str) -> LocalStripeObject:
        return _get(customer_id, "customer")

    def customer_invoices(self, customer_id: str) -> list[dict[str, Any]]:
        rows = LocalStripeObject.objects.filter(object="invoice", data__customer=customer_id)
        return [row.data for row in rows.order_by("-created", "-id")]

    def customer_subscriptions(self, customer_id: str) -> list[dict[str, Any]]:
        rows = LocalStripeObject.objects.filter(object="subscription", data__customer=customer_id)
        return [row.data for row in rows.order_by("-created", "-id")]

    def invoice(self, invoice_id: str) -> dict[str, Any]:
        return _get(invoice_id, "invoice").data

    def portal_return_url(self, session_id: str, customer_id: str) -> str:
        row = LocalStripeObject.objects.filter(
            stripe_id=session_id, object="billing_portal.session", data__customer=customer_id
        ).first()
        return row.data["return_url"] if row else ""

    @transaction.atomic
    def card_replace(self, *, customer_id: str, card_number: str) -> list[str]:
        """The portal's "replace card": attach the new card, retry every open invoice with
        it (``invoice.paid`` or ``invoice.payment_failed``), and bring a past-due
        subscription whose invoices are all paid back to active
        (``customer.subscription.updated``). Returns the types of the events sent."""
        customer = _locked(customer_id, "customer")
        now = _customer_now(customer)
        _card_attach(customer, card_number, now)
        sent = []
        for row in _open_invoices(customer):
            paid = _invoice_pay(customer, row.data, now)
            _save(row)
            sent.append(
                _emit(
                    "invoice.paid" if paid else "invoice.payment_failed",
                    row.data,
                    clock_time=_clock_time(customer, now),
                )
            )
        still_open = {row.data["subscription"] for row in _open_invoices(customer)}
        past_due = LocalStripeObject.objects.select_for_update().filter(
            object="subscription", data__customer=customer_id, data__status="past_due"
        )
        for sub in past_due.order_by("created", "id"):
            if sub.stripe_id in still_open:
                continue
            sub.data["status"] = "active"
            sub.data["default_payment_method"] = customer.data["invoice_settings"][
                "default_payment_method"
            ]
            _save(sub)
            sent.append(
                _emit(
                    "customer.subscription.updated",
                    sub.data,
                    previous={"status": "past_due"},
                    clock_time=_clock_time(customer, now),
                )
            )
        _save(customer)
        return [event["type"] for event in sent]

    # Test clocks --------------------------------------------------------------------------

    def subscription_now(self, subscription_id: str) -> datetime:
        """The time on the clock of a subscription's customer."""
        sub = _get(subscription_id, "subscription")
        return _customer_now(_get(sub.data["customer"], "customer"))

    @transaction.atomic
    def clock_advance(self, *, subscription_id: str, to: datetime | None = None) -> datetime:
        """Move the clock of a subscription's customer forward, to ``to`` or else to the
        subscription's current period end (the end of a trial, a renewal, or the end of a
        subscription cancelled at period end), and run what falls due. A clock never goes
        back. Returns the customer's new time."""
        sub = _get(subscription_id, "subscription")
        customer = _locked(sub.data["customer"], "customer")
        target = to or _dt(_item(sub.data)["current_period_end"])
        wall = timezone.now()
        ahead = math.ceil((target - wall).total_seconds())
        offset = max(customer.private.get("clock_offset", 0), ahead)
        customer.private["clock_offset"] = offset
        now = wall + timedelta(seconds=offset)
        _run_due(customer, now)
        return now

    # Webhook delivery ---------------------------------------------------------------------

    def events_pending(self) -> list[str]:
        rows = LocalStripeObject.objects.filter(object="event", data__pending_webhooks__gt=0)
        return list(rows.order_by("created", "id").values_list("stripe_id", flat=True))
