"""The activation rule starts as: the first usage event a workspace sends."""

from django.db import migrations


def create(apps, schema_editor):
    apps.get_model("usage", "ActivationRule").objects.get_or_create(
        pk=1, defaults={"kind": "checklist_step", "value": "first_usage_event"}
    )


class Migration(migrations.Migration):
    dependencies = [("usage", "0003_activationrule_usagecounter_usagedaily_usageevent_and_more")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
