"""Where "Stripe's side" is kept: one ``billing.LocalStripeObject`` row per Stripe object
(its JSON in ``data``, what Stripe would know but not send in ``private``).
"""

from typing import Any

from django.utils import timezone

from billing.models import LocalStripeObject
from billing.stripe.client import StripeRefused
from billing.stripe.local.shapes import _dt


def _store(data: dict[str, Any], *, private: dict | None = None) -> LocalStripeObject:
    return LocalStripeObject.objects.create(
        stripe_id=data["id"],
        object=data["object"],
        data=data,
        private=private or {},
        created=_dt(data["created"]) if "created" in data else timezone.now(),
    )


def _locked(stripe_id: str, kind: str) -> LocalStripeObject:
    row = LocalStripeObject.objects.select_for_update().filter(stripe_id=stripe_id).first()
    if row is None or row.object != kind:
        raise StripeRefused(f"No such {kind}: “{stripe_id}”.")
    return row


def _get(stripe_id: str, kind: str) -> LocalStripeObject:
    row = LocalStripeObject.objects.filter(stripe_id=stripe_id).first()
    if row is None or row.object != kind:
        raise StripeRefused(f"No such {kind}: “{stripe_id}”.")
    return row


def _save(row: LocalStripeObject) -> None:
    row.save(update_fields=["data", "private"])


def _open_invoices(customer: LocalStripeObject) -> list[LocalStripeObject]:
    return list(
        LocalStripeObject.objects.select_for_update()
        .filter(object="invoice", data__customer=customer.stripe_id, data__status="open")
        .order_by("created", "id")
    )
