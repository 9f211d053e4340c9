"""The activation rule moves from usage to accounts (onboarding is accounts' concern, and
accounts sits below usage). Only Django's state moves: the table keeps its name, and the
content type is renamed so the staff groups keep their permissions on it."""

from django.db import migrations, models


def content_type_to_accounts(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="usage", model="activationrule").update(
        app_label="accounts"
    )


def content_type_to_usage(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="accounts", model="activationrule").update(
        app_label="usage"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0008_sales_managers_and_staff_audit"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("usage", "0005_staff_permissions"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ActivationRule",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("checklist_step", "An onboarding checklist step"),
                                    ("product_event", "A product event"),
                                ],
                                default="checklist_step",
                                max_length=20,
                            ),
                        ),
                        (
                            "value",
                            models.SlugField(
                                default="first_usage_event",
                                help_text="The checklist step key (invite_teammate, "
                                "create_api_key, first_usage_event) or the product event name "
                                "(for example project_created).",
                                max_length=80,
                            ),
                        ),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        "db_table": "usage_activationrule",
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(("id", 1)),
                                name="usage_activationrule_single",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_type_to_accounts, content_type_to_usage),
    ]
