"""Demo data for the embedded default, built by ``manage.py seed_demo``.

Four documented log-ins (a workspace owner, a sales rep, a sales manager, a billing admin),
the owner's workspace "Acme Analytics" with teammates and a pending invitation, and a few
hundred other workspaces with members, sign-up dates over the past year and onboarding
progress.

Every step is idempotent. The log-ins and Acme Analytics go through ``accounts.services``;
the bulk workspaces are planned from a seeded ``random.Random`` (the same plan on every run,
with dates relative to ``now``) and bulk-inserted. They are recognised by their company
domains, so a later run inserts only the planned workspaces that are missing (none, usually)
at the cost of one query. Changing the word lists or the seed changes the plan: start from
an empty database after doing so.
"""

from accounts.demo.acme import (
    DEMO_API_KEY_NAME,
    DEMO_WORKSPACE_DOMAIN,
    DEMO_WORKSPACE_NAME,
    demo_api_key_create,
    seed_demo_owner,
)
from accounts.demo.bulk_insert import seed_workspaces
from accounts.demo.bulk_plan import (
    SEED,
    WORKSPACE_COUNT,
    PlannedMember,
    PlannedStep,
    PlannedWorkspace,
    Segment,
    workspaces_plan,
)
from accounts.demo.logins import (
    BILLING_ADMIN,
    DEMO_LOGINS,
    DEMO_OWNER,
    SALES_MANAGER,
    SALES_REP,
    DemoLogin,
    DemoSetupError,
    demo_logins_reset,
    seed_staff,
)

__all__ = [
    "BILLING_ADMIN",
    "DEMO_API_KEY_NAME",
    "DEMO_LOGINS",
    "DEMO_OWNER",
    "DEMO_WORKSPACE_DOMAIN",
    "DEMO_WORKSPACE_NAME",
    "SALES_MANAGER",
    "SALES_REP",
    "SEED",
    "WORKSPACE_COUNT",
    "DemoLogin",
    "DemoSetupError",
    "PlannedMember",
    "PlannedStep",
    "PlannedWorkspace",
    "Segment",
    "demo_api_key_create",
    "demo_logins_reset",
    "seed_demo_owner",
    "seed_staff",
    "seed_workspaces",
    "workspaces_plan",
]
