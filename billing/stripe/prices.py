"""Matching Stripe price ids to the catalog's prices.

A price sold through Stripe carries its Stripe price id (billing admins paste it in the
admin). The offline gateway names the catalog's prices ``price_local_<pk>`` instead.
"""

from billing.models import Price

LOCAL_PREFIX = "price_local_"


def stripe_price_id(price: Price, *, local: bool) -> str:
    if local:
        return f"{LOCAL_PREFIX}{price.pk}"
    return price.stripe_price_id


def price_for_stripe_id(stripe_id: str) -> Price | None:
    """The catalog price a Stripe price id refers to, or None."""
    queryset = Price.objects.select_related("plan")
    if stripe_id.startswith(LOCAL_PREFIX) and stripe_id[len(LOCAL_PREFIX) :].isdigit():
        return queryset.filter(pk=int(stripe_id[len(LOCAL_PREFIX) :])).first()
    return queryset.filter(stripe_price_id=stripe_id).first() if stripe_id else None
