"""``manage.py stripe_sync_catalog``: create (or find) the Stripe products and prices of the
active catalog and record their ids on the catalog's prices."""

from billing.management.stripe_command import StripeFindingsCommand
from billing.stripe.going_live import catalog_sync


class Command(StripeFindingsCommand):
    help = (
        "Connect the active catalog to Stripe: for each active price of a plan not archived, "
        "find its Stripe price by lookup key (handoff_<plan>_<interval>_<currency>) or create "
        "it (with the plan's product, handoff_<plan>), and record its id on the price. Safe "
        "to run again: what is connected is only checked. A Stripe price whose amount, "
        "currency or interval disagrees is reported and left alone. Exits non-zero when "
        "anything is reported."
    )

    without_key = (
        "STRIPE_SECRET_KEY is not set: there is no Stripe catalog to connect (the "
        "offline gateway needs no Stripe price ids)."
    )

    def run(self, report):
        return catalog_sync(report=report)

    def problems_found(self, problems: int) -> str:
        return f"{problems} price(s) are not connected: see the PROBLEM lines above."
