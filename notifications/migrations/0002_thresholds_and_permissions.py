"""Usage alerts at 80 % and 100 % of a limit to start; billing admins edit the thresholds
and read what was sent."""

from accounts.migration_operations import grant_group_permissions
from django.db import migrations

GRANTS = {
    "Billing admins": [
        "view_alertthreshold",
        "add_alertthreshold",
        "change_alertthreshold",
        "delete_alertthreshold",
        "view_usagealert",
        "view_notification",
    ],
}


def thresholds(apps, schema_editor) -> None:
    AlertThreshold = apps.get_model("notifications", "AlertThreshold")
    for percent in (80, 100):
        AlertThreshold.objects.get_or_create(percent=percent)


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0001_initial"),
        ("accounts", "0002_staff_groups"),
    ]

    operations = [
        migrations.RunPython(thresholds, migrations.RunPython.noop),
        grant_group_permissions("notifications", GRANTS),
    ]
