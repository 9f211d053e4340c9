"""Every write to billing: plan assignment, overrides, the audit of catalog edits, and the
self-serve flows (checkout, seat and plan changes, cancel and resume, the billing portal).

Each change that alters what a workspace may do drops its cached entitlements (through the
model signals in ``billing.signals``) and is written to the audit log.

The self-serve flows ask the gateway (``billing.stripe.gateway.gateway()``: Stripe, or the
offline local gateway) to change the subscription and never write the mirror themselves:
Stripe owns subscription state, and the webhook handlers mirror what it sends. They call
the gateway outside any transaction, so no row lock is held while Stripe answers.
"""

from billing.services.cancellation import subscription_cancel, subscription_resume
from billing.services.catalog import plan_change_record, plan_snapshot, price_stripe_connect
from billing.services.changes import subscription_change, subscription_change_preview
from billing.services.checkout import billing_portal_url, checkout_start
from billing.services.overrides import override_grant, override_revoke
from billing.services.plans import subscription_create_free, subscription_set_plan
from billing.services.validation import (
    COMMENT_MAX_LENGTH,
    MAX_SEATS,
    UsageConflict,
    subscription_fit_check,
)

__all__ = [
    "COMMENT_MAX_LENGTH",
    "MAX_SEATS",
    "UsageConflict",
    "billing_portal_url",
    "checkout_start",
    "override_grant",
    "override_revoke",
    "plan_change_record",
    "plan_snapshot",
    "price_stripe_connect",
    "subscription_cancel",
    "subscription_change",
    "subscription_change_preview",
    "subscription_create_free",
    "subscription_fit_check",
    "subscription_resume",
    "subscription_set_plan",
]
