"""Billing admins edit the catalog and overrides; sales reps view plans and grant overrides."""

from django.contrib.auth.management import create_permissions
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


def grant(apps, schema_editor):
    billing = apps.get_app_config("billing")
    billing.models_module = True
    create_permissions(billing, apps=apps, verbosity=0)
    billing.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="billing", codename__in=codenames)
        )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group in Group.objects.filter(name__in=GRANTS):
        group.permissions.remove(
            *Permission.objects.filter(content_type__app_label="billing")
        )


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0003_free_plan_for_existing_workspaces"),
        ("accounts", "0002_staff_groups"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
