"""What the going-live commands share: they run one step against Stripe's API that reports
findings as it goes, and exit non-zero when any finding is a problem."""

from collections.abc import Callable, Sequence

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from billing.stripe.client import StripeRefused, StripeUnavailable
from billing.stripe.going_live import stripe_request_log_quiet


class StripeFindingsCommand(BaseCommand):
    """Subclasses set ``without_key`` (said when STRIPE_SECRET_KEY is unset) and implement
    ``run`` and ``problems_found``; ``all_well`` is printed when nothing is a problem."""

    without_key = ""
    all_well = ""

    def run(self, report: Callable[[object], None]) -> Sequence:
        raise NotImplementedError

    def problems_found(self, problems: int) -> str:
        raise NotImplementedError

    def handle(self, *args, **options) -> None:
        if not settings.STRIPE_SECRET_KEY:
            self.stdout.write(self.without_key)
            return
        try:
            with stripe_request_log_quiet(options["verbosity"]):
                findings = self.run(report=lambda finding: self.stdout.write(str(finding)))
        except StripeUnavailable as exc:
            raise CommandError(f"Stripe cannot be reached; run it again later ({exc}).") from exc
        except StripeRefused as exc:
            raise CommandError(f"Stripe refused the request: {exc}") from exc
        problems = sum(finding.problem for finding in findings)
        if problems:
            raise CommandError(self.problems_found(problems))
        if self.all_well:
            self.stdout.write(self.all_well)
