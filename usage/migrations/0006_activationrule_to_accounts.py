"""The activation rule now lives in accounts (``accounts.0009_activationrule``); its table
stays where it is."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0005_staff_permissions"),
        ("accounts", "0009_activationrule"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="ActivationRule")],
            database_operations=[],
        ),
    ]
