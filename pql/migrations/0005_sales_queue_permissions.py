"""Sales reps work leads (claim, status, contacts, notes, snooze) and keep their own saved
views; sales managers also assign leads to others, act in bulk and set up the queue (its
settings and who takes round-robin leads). The queue's settings start with a 24 working
hours first-contact SLA, Monday to Friday 9:00-17:00 UTC."""

from django.db import migrations

from accounts.migration_operations import grant_group_permissions

GRANTS = {
    "Sales": [
        "work_lead",
        "view_savedview",
        "add_savedview",
        "delete_savedview",
        "view_salesrep",
        "view_queuesettings",
    ],
    "Sales managers": [
        "manage_queue",
        "change_queuesettings",
        "add_salesrep",
        "change_salesrep",
    ],
}


def create_settings(apps, schema_editor):
    apps.get_model("pql", "QueueSettings").objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("pql", "0004_sales_queue")]

    operations = [
        grant_group_permissions("pql", GRANTS),
        migrations.RunPython(create_settings, migrations.RunPython.noop),
    ]
