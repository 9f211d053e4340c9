from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Plans, prices, limits, subscriptions mirrored from Stripe and the revenue ledger."""

    name = "billing"
