"""Billing admins edit scoring models (and see scores and runs, to tune them); sales reps view
the models, scores and leads. The sales queue's own permissions come with the queue."""

from django.db import migrations

from accounts.migration_operations import grant_group_permissions

GRANTS = {
    "Billing admins": [
        f"{action}_{model}" for model in ("scoringmodel", "signal") for action in ("add", "change", "view")
    ]
    + ["delete_signal", "view_score", "view_scoringrun"],
    "Sales": [
        "view_scoringmodel",
        "view_signal",
        "view_score",
        "view_lead",
        "view_leadactivity",
    ],
}


class Migration(migrations.Migration):
    dependencies = [
        ("pql", "0002_default_scoring_model"),
        ("accounts", "0008_sales_managers_and_staff_audit"),
    ]

    operations = [grant_group_permissions("pql", GRANTS)]
