"""The queue's search (workspace name or domain, case-insensitive, anywhere in it) on
PostgreSQL: trigram indexes on the expressions Django's ``icontains`` compares,
``UPPER(name::text)`` and ``UPPER(company_domain::text)``, so a search reads the matching
workspaces instead of every one. Nothing on SQLite (the embedded default), where the queue
is small."""

from django.db import migrations

INDEXES = {
    "pql_workspace_name_trgm": "name",
    "pql_workspace_domain_trgm": "company_domain",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON accounts_workspace "
            f"USING gin (UPPER({column}::text) gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0009_workspace_fit"),
        ("pql", "0007_queue_open_indexes"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
