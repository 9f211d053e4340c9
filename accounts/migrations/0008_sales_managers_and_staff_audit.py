"""The "Sales managers" group, and the audit action of ``manage.py staff_user``.

Sales managers are sales reps (members of "Sales" too) who may also assign leads to others,
act on leads in bulk and set up the sales queue. Their group exists before the queue does, so
``staff_user --role sales-manager`` works today; it holds no permission of its own yet: the
queue's migrations grant it the queue's manager permissions (with ``grant_group_permissions``
on the pql app), and members get everything else from "Sales".
"""

from django.db import migrations, models

from accounts.migration_operations import grant_group_permissions

SALES_MANAGERS = "Sales managers"


def _noop(apps, schema_editor):
    pass


def delete_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=SALES_MANAGERS).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0007_workspace_settings_projects'),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditevent',
            name='action',
            field=models.CharField(choices=[('workspace.created', 'Workspace created'), ('workspace.changed', 'Workspace renamed or moved to a new address'), ('workspace.deleted', 'Workspace deleted'), ('user.email_changed', 'E-mail address changed'), ('member.added', 'Member added'), ('member.role_changed', 'Member role changed'), ('member.removed', 'Member removed'), ('invitation.sent', 'Invitation sent'), ('invitation.resent', 'Invitation resent'), ('invitation.revoked', 'Invitation revoked'), ('invitation.accepted', 'Invitation accepted'), ('api_key.created', 'API key created'), ('api_key.revoked', 'API key revoked'), ('project.created', 'Project created'), ('project.renamed', 'Project renamed'), ('project.deleted', 'Project deleted'), ('plan.created', 'Plan created'), ('plan.changed', 'Plan changed'), ('override.granted', 'Override granted'), ('override.revoked', 'Override revoked'), ('subscription.plan_changed', 'Workspace moved to a plan'), ('subscription.changed', 'Subscription changed (seats, plan, interval)'), ('subscription.cancel_requested', 'Cancellation requested'), ('subscription.resumed', 'Subscription resumed'), ('staff.user_set', 'Staff log-in created or changed (role, password)')], max_length=50),
        ),
        # Reversed last: the group goes once the grant below has been taken back.
        migrations.RunPython(_noop, delete_group),
        grant_group_permissions("accounts", {SALES_MANAGERS: []}),
    ]
