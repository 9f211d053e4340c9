"""Pages of billing: the public pricing page, a workspace's plan page, and its billing page
with the self-serve flows.

They read the plan catalog and a workspace's entitlements through ``billing.entitlements``
(cached) and usage through ``usage.current``; a workspace's page starts from the tenancy
selector (``accounts.views.workspace_view``), so another workspace's plan is a 404. The
local gateway's stand-ins for Stripe's hosted pages are in ``billing.stripe.local.views``.
Changes go through ``billing.services``; a refused change re-renders the page with the
reason and the status the error carries. Amounts stay integer cents here; templates format
them with the ``money`` filter.
"""

from billing.views.billing_page import (
    workspace_billing,
    workspace_billing_cancel,
    workspace_billing_change,
    workspace_billing_checkout,
    workspace_billing_portal,
    workspace_billing_resume,
    workspace_billing_return,
    workspace_billing_status,
)
from billing.views.plan import workspace_plan
from billing.views.pricing import pricing

__all__ = [
    "pricing",
    "workspace_billing",
    "workspace_billing_cancel",
    "workspace_billing_change",
    "workspace_billing_checkout",
    "workspace_billing_portal",
    "workspace_billing_resume",
    "workspace_billing_return",
    "workspace_billing_status",
    "workspace_plan",
]
