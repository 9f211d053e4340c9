"""Every workspace has a plan: put existing workspaces on the default free plan."""

from django.db import migrations


def assign(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    Subscription = apps.get_model("billing", "Subscription")
    Workspace = apps.get_model("accounts", "Workspace")
    free = Plan.objects.get(is_default_free=True)
    Subscription.objects.bulk_create(
        [
            Subscription(workspace=workspace, plan=free, seats=0)
            for workspace in Workspace.objects.filter(subscription__isnull=True)
        ],
        batch_size=1000,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_seed_catalog"),
        ("accounts", "0003_project"),
    ]

    operations = [migrations.RunPython(assign, migrations.RunPython.noop)]
