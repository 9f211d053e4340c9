"""Billing admins set the activation rule and read product events; sales reps read them."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "Billing admins": [
        "view_metric",
        "view_activationrule",
        "change_activationrule",
        "view_productevent",
    ],
    "Sales": ["view_metric", "view_activationrule", "view_productevent"],
}


def grant(apps, schema_editor):
    usage = apps.get_app_config("usage")
    usage.models_module = True
    create_permissions(usage, apps=apps, verbosity=0)
    usage.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="usage", codename__in=codenames)
        )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group in Group.objects.filter(name__in=GRANTS):
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="usage"))


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0004_activation_rule"),
        ("accounts", "0002_staff_groups"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
