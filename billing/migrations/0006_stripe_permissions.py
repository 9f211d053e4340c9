"""Billing admins see the Stripe events (and replay failed ones), the revenue ledger and the
invoices, and edit the billing settings; sales reps see the revenue ledger."""

from accounts.migration_operations import grant_group_permissions
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


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0005_stripe_mirror_and_ledger"),
        ("accounts", "0002_staff_groups"),
    ]

    operations = [grant_group_permissions("billing", GRANTS)]
