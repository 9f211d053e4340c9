from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Plans, prices, limits, subscriptions mirrored from Stripe and the revenue ledger."""

    name = "billing"

    def ready(self) -> None:
        from billing import signals  # noqa: F401 - connects the cache invalidation receivers
