"""Billing admins edit the catalog and overrides; sales reps view plans and grant overrides."""

from accounts.migration_operations import grant_group_permissions
from django.db import migrations

CATALOG = ["plan", "price", "planlimit", "planfeature", "feature"]

GRANTS = {
    "Billing admins": [f"{action}_{model}" for model in CATALOG for action in ("add", "change", "view")]
    + ["delete_planlimit", "delete_planfeature"]
    + [f"{action}_workspaceoverride" for action in ("add", "change", "view", "delete")]
    + ["view_subscription", "change_subscription"],
    "Sales": [f"view_{model}" for model in CATALOG]
    + [f"{action}_workspaceoverride" for action in ("add", "change", "view", "delete")]
    + ["view_subscription"],
}


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0003_free_plan_for_existing_workspaces"),
        ("accounts", "0002_staff_groups"),
    ]

    operations = [grant_group_permissions("billing", GRANTS)]
