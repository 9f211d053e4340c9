"""Matching Stripe price ids to the catalog's prices.

A price sold through Stripe carries its Stripe price id: ``manage.py stripe_sync_catalog``
creates (or finds) the Stripe price and records it, or a billing admin pastes it in the
admin. Until then the price is not *connected*: with Stripe as the gateway it cannot be
bought (``PriceNotConnected``). The offline gateway names the catalog's prices
``price_local_<pk>`` itself and needs no ids.
"""

from django.conf import settings

from accounts.errors import Conflict
from billing.models import Plan, Price

LOCAL_PREFIX = "price_local_"


class PriceNotConnected(Conflict):
    """The price has no Stripe price id yet, and Stripe is the gateway: nothing is sent to
    Stripe (which would answer 400 for ``price=""``)."""

    def __init__(self, price: Price) -> None:
        super().__init__(
            f"{price.plan.name} ({price.get_interval_display().lower()}) cannot be bought "
            "yet: its price is not set up with our payment provider. Nothing was charged or "
            f"changed; contact {settings.HANDOFF_SALES_EMAIL} to buy it.",
            field="price",
        )
        self.price = price


def stripe_price_id(price: Price, *, local: bool) -> str:
    """The id a gateway sells ``price`` under; ``PriceNotConnected`` for a price Stripe
    does not know yet."""
    if local:
        return f"{LOCAL_PREFIX}{price.pk}"
    if not price.stripe_price_id:
        raise PriceNotConnected(price)
    return price.stripe_price_id


def price_for_stripe_id(stripe_id: str) -> Price | None:
    """The catalog price a Stripe price id refers to, or None."""
    queryset = Price.objects.select_related("plan")
    if stripe_id.startswith(LOCAL_PREFIX) and stripe_id[len(LOCAL_PREFIX) :].isdigit():
        return queryset.filter(pk=int(stripe_id[len(LOCAL_PREFIX) :])).first()
    return queryset.filter(stripe_price_id=stripe_id).first() if stripe_id else None


PRODUCT_PREFIX = "handoff_"


def plan_for_stripe_product(product_id: str) -> Plan | None:
    """The plan whose Stripe product is ``product_id`` (``stripe_sync_catalog`` names a
    plan's product ``handoff_<plan code>``), or None: how a Stripe price the catalog does
    not carry (a price negotiated by sales on the plan's product) still names the plan."""
    if not product_id.startswith(PRODUCT_PREFIX):
        return None
    return Plan.objects.filter(code=product_id[len(PRODUCT_PREFIX) :]).first()
