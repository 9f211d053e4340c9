"""Billing admins see the Stripe events (and replay failed ones), the revenue ledger and the
invoices, and edit the billing settings; sales reps see the revenue ledger."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "Billing admins": [
        "view_stripeevent",
        "change_stripeevent",
        "view_revenuemovement",
        "view_invoice",
        "view_billingsettings",
        "change_billingsettings",
    ],
    "Sales": ["view_revenuemovement"],
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
    for name, codenames in GRANTS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.remove(
                *Permission.objects.filter(content_type__app_label="billing", codename__in=codenames)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0005_stripe_mirror_and_ledger"),
        ("accounts", "0002_staff_groups"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
