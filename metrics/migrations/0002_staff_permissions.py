"""Sales staff and billing admins read the growth metrics; billing admins edit how they are
counted and the exchange rates. The settings row starts with the documented defaults."""

from django.db import migrations

from accounts.migration_operations import grant_group_permissions

GRANTS = {
    "Sales": ["view_growth"],
    "Billing admins": [
        "view_growth",
        "view_metricssettings",
        "change_metricssettings",
        "view_exchangerate",
        "add_exchangerate",
        "change_exchangerate",
        "delete_exchangerate",
    ],
}


def create_settings(apps, schema_editor):
    apps.get_model("metrics", "MetricsSettings").objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("metrics", "0001_initial"), ("accounts", "0008_sales_managers_and_staff_audit")]

    operations = [
        grant_group_permissions("metrics", GRANTS),
        migrations.RunPython(create_settings, migrations.RunPython.noop),
    ]
