from django.apps import AppConfig
from django.core import checks


class BillingConfig(AppConfig):
    """Plans, prices, limits, subscriptions mirrored from Stripe and the revenue ledger."""

    name = "billing"

    def ready(self) -> None:
        from billing import signals  # noqa: F401 - connects the cache invalidation receivers
        from billing.checks import billing_gateway_check

        checks.register(billing_gateway_check, "billing")
