"""``manage.py stripe_check``: verify through Stripe's API what going live needs."""

from billing.management.stripe_command import StripeFindingsCommand
from billing.stripe.going_live import golive_check


class Command(StripeFindingsCommand):
    help = (
        "Check through Stripe's API that this installation can take payments: a webhook "
        "endpoint sends to HANDOFF_SITE_URL + /billing/stripe/webhook/, is enabled, uses "
        "the pinned API version and sends every event type Handoff handles; every active "
        "catalog price is connected to a Stripe price whose amount, currency and interval "
        "agree; the Customer Portal is configured. Prints each finding; exits non-zero when "
        "anything is missing."
    )

    without_key = (
        "STRIPE_SECRET_KEY is not set: billing runs on the offline gateway or is not "
        "configured, so there is nothing to check at Stripe."
    )
    all_well = "Stripe is ready: nothing is missing."

    def run(self, report):
        return golive_check(report=report)

    def problems_found(self, problems: int) -> str:
        return f"{problems} problem(s): Stripe is not ready to go live (PROBLEM lines above)."
