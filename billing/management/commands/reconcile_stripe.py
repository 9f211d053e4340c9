"""``manage.py reconcile_stripe``: recover undelivered Stripe events and repair drift."""

from django.core.management.base import BaseCommand, CommandError

from billing.stripe.client import StripeUnavailable
from billing.stripe.gateway import BillingNotConfigured
from billing.stripe.reconcile import ReconcileBusy, stripe_reconcile


class Command(BaseCommand):
    help = (
        "Compare every paid subscription with Stripe, apply Stripe's state where they "
        "differ (the MRR difference goes to the revenue ledger), and store and process the "
        "events of the last three days that never arrived. Reads Stripe's lists 100 objects "
        "a call, paced within the rate limit, and carries on a run left unfinished from its "
        "last page. Prints one line per change."
    )

    def handle(self, *args, **options) -> None:
        try:
            changes = stripe_reconcile(report=self.stdout.write)
        except BillingNotConfigured as exc:
            raise CommandError(
                "Billing is not configured (no STRIPE_SECRET_KEY, offline demo billing off): "
                "there is nothing to reconcile."
            ) from exc
        except ReconcileBusy as exc:
            raise CommandError(exc.message) from exc
        except StripeUnavailable as exc:
            raise CommandError(
                f"Stripe cannot be reached; run it again later: it carries on from the last "
                f"page done ({exc})."
            ) from exc
        if not changes:
            self.stdout.write("nothing to repair")
