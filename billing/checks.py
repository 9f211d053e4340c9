"""System checks of billing, run by ``manage.py check`` (``--deploy`` included), ``migrate``
and ``runserver``."""

from django.core import checks

from billing.stripe.gateway import billing_configured


def billing_gateway_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """billing.W001: no gateway serves billing (no Stripe key, offline demo billing off), so
    every purchase is refused."""
    if billing_configured():
        return []
    return [
        checks.Warning(
            "Billing has no gateway: STRIPE_SECRET_KEY is not set and offline demo billing is "
            "off, so customers cannot buy or change a plan (checkout answers that billing is "
            "not configured).",
            hint=(
                "Set STRIPE_SECRET_KEY (with the endpoint's STRIPE_WEBHOOK_SECRET) to take "
                "payments through Stripe, or, for a demo installation only, "
                "HANDOFF_DEMO_BILLING=True to simulate payments with test cards (no real "
                "money)."
            ),
            id="billing.W001",
        )
    ]
