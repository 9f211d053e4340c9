"""Django admin for billing: the catalog (billing admins edit it, sales reps view it), overrides
for one workspace (both groups), and subscriptions (view; billing admins move a workspace to
another plan).

Every write that matters goes through ``billing.services`` and is audited: a plan edit,
inlines included, is recorded as one ``plan.changed`` event with what changed before and
after; overrides are granted and revoked by their services; plan moves by
``subscription_set_plan``.
"""

from billing.admin import catalog, overrides, stripe, subscriptions

__all__ = ["catalog", "overrides", "stripe", "subscriptions"]
