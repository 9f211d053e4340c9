"""Operations that data migrations share."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant_group_permissions(app_label: str, grants: dict[str, list[str]]) -> migrations.RunPython:
    """Give staff groups (created if missing) permissions on ``app_label``'s models.

    Django makes permissions only after every migration has run, so a fresh database has
    none yet: they are made here first. Reversing removes exactly what was granted.
    """

    def forwards(apps, schema_editor) -> None:
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
        Group = apps.get_model("auth", "Group")
        Permission = apps.get_model("auth", "Permission")
        for name, codenames in grants.items():
            group, _ = Group.objects.get_or_create(name=name)
            group.permissions.add(
                *Permission.objects.filter(
                    content_type__app_label=app_label, codename__in=codenames
                )
            )

    def backwards(apps, schema_editor) -> None:
        Group = apps.get_model("auth", "Group")
        Permission = apps.get_model("auth", "Permission")
        for group in Group.objects.filter(name__in=grants):
            group.permissions.remove(
                *Permission.objects.filter(
                    content_type__app_label=app_label, codename__in=grants[group.name]
                )
            )

    return migrations.RunPython(forwards, backwards)
