"""``manage.py stripe_sync_catalog``: create (or find) the Stripe products and prices of the
active catalog and record their ids on the catalog's prices."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from billing.stripe.client import StripeRefused, StripeUnavailable
from billing.stripe.going_live import catalog_sync, stripe_request_log_quiet


class Command(BaseCommand):
    help = (
        "Connect the active catalog to Stripe: for each active price of a plan not archived, "
        "find its Stripe price by lookup key (handoff_<plan>_<interval>_<currency>) or create "
        "it (with the plan's product, handoff_<plan>), and record its id on the price. Safe "
        "to run again: what is connected is only checked. A Stripe price whose amount, "
        "currency or interval disagrees is reported and left alone. Exits non-zero when "
        "anything is reported."
    )

    def handle(self, *args, **options) -> None:
        if not settings.STRIPE_SECRET_KEY:
            self.stdout.write(
                "STRIPE_SECRET_KEY is not set: there is no Stripe catalog to connect (the "
                "offline gateway needs no Stripe price ids)."
            )
            return
        try:
            with stripe_request_log_quiet(options["verbosity"]):
                findings = catalog_sync(report=lambda finding: self.stdout.write(str(finding)))
        except StripeUnavailable as exc:
            raise CommandError(f"Stripe cannot be reached; run it again later ({exc}).") from exc
        except StripeRefused as exc:
            raise CommandError(f"Stripe refused the request: {exc}") from exc
        problems = sum(finding.problem for finding in findings)
        if problems:
            raise CommandError(
                f"{problems} price(s) are not connected: see the PROBLEM lines above."
            )
