"""``manage.py stripe_check``: verify through Stripe's API what going live needs."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from billing.stripe.client import StripeRefused, StripeUnavailable
from billing.stripe.going_live import golive_check, stripe_request_log_quiet


class Command(BaseCommand):
    help = (
        "Check through Stripe's API that this installation can take payments: a webhook "
        "endpoint sends to HANDOFF_SITE_URL + /billing/stripe/webhook/, is enabled, uses "
        "the pinned API version and sends every event type Handoff handles; every active "
        "catalog price is connected to a Stripe price whose amount, currency and interval "
        "agree; the Customer Portal is configured. Prints each finding; exits non-zero when "
        "anything is missing."
    )

    def handle(self, *args, **options) -> None:
        if not settings.STRIPE_SECRET_KEY:
            self.stdout.write(
                "STRIPE_SECRET_KEY is not set: billing runs on the offline gateway or is not "
                "configured, so there is nothing to check at Stripe."
            )
            return
        try:
            with stripe_request_log_quiet(options["verbosity"]):
                findings = golive_check(report=lambda finding: self.stdout.write(str(finding)))
        except StripeUnavailable as exc:
            raise CommandError(f"Stripe cannot be reached; run it again later ({exc}).") from exc
        except StripeRefused as exc:
            raise CommandError(f"Stripe refused the request: {exc}") from exc
        problems = sum(finding.problem for finding in findings)
        if problems:
            raise CommandError(
                f"{problems} problem(s): Stripe is not ready to go live (PROBLEM lines above)."
            )
        self.stdout.write("Stripe is ready: nothing is missing.")
