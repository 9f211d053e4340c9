"""Billing admins set the activation rule and read product events; sales reps read them."""

from accounts.migration_operations import grant_group_permissions
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


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0004_activation_rule"),
        ("accounts", "0002_staff_groups"),
    ]

    operations = [grant_group_permissions("usage", GRANTS)]
