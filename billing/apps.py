from django.apps import AppConfig
from django.core import checks


class BillingConfig(AppConfig):
    """Plans, prices, limits, subscriptions mirrored from Stripe and the revenue ledger."""

    name = "billing"

    def ready(self) -> None:
        from accounts.plan import plan_policy_install
        from billing import signals  # noqa: F401 - connects the cache invalidation receivers
        from billing.checks import billing_gateway_check
        from billing.plan_policy import BillingPlanPolicy

        checks.register(billing_gateway_check, "billing")
        plan_policy_install(BillingPlanPolicy())
