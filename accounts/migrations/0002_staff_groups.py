"""Staff roles as Django groups: "Sales" works the PQL queue, "Billing admins" edit plans.

Later migrations (billing, pql) add their own permissions to these groups. Here both groups
can look up workspaces and their members in the admin, read-only.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUPS = {
    "Sales": [
        ("accounts", "view_workspace"),
        ("accounts", "view_membership"),
        ("accounts", "view_invitation"),
    ],
    "Billing admins": [
        ("accounts", "view_workspace"),
        ("accounts", "view_membership"),
        ("accounts", "view_auditevent"),
    ],
}


def create_groups(apps, schema_editor):
    # Permissions are normally made after migrations finish; make accounts' now.
    accounts = apps.get_app_config("accounts")
    accounts.models_module = True
    create_permissions(accounts, apps=apps, verbosity=0)
    accounts.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in codenames:
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


def delete_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, delete_groups)]
