"""The metrics plans can limit."""

from django.db import migrations

METRICS = [
    # key, name, unit, aggregation, reset period, metered through the usage API
    ("seats", "Seats", "seats", "count", "never", False),
    ("projects", "Projects", "projects", "count", "never", False),
    ("api_calls", "API calls", "calls", "sum", "monthly", True),
    ("storage_mb", "Storage", "MB", "last", "never", True),
]


def seed(apps, schema_editor):
    Metric = apps.get_model("usage", "Metric")
    for key, name, unit, aggregation, reset_period, is_metered in METRICS:
        Metric.objects.update_or_create(
            key=key,
            defaults={
                "name": name,
                "unit": unit,
                "aggregation": aggregation,
                "reset_period": reset_period,
                "is_metered": is_metered,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("usage", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
