"""Projects: creating (within the plan's limit), renaming and deleting."""

from django.db import IntegrityError, transaction

from accounts.audit import audit_record
from accounts.errors import ApplicationError, Conflict, PermissionDenied
from accounts.locks import workspace_lock
from accounts.models import (
    AuditEvent,
    Membership,
    Project,
    User,
    Workspace,
)
from accounts.plan import plan_policy
from accounts.signals import project_created


def _project_name_clean(name: str) -> str:
    name = name.strip()
    if not name:
        raise ApplicationError("Give the project a name.", field="name")
    if len(name) > 100:
        raise ApplicationError("Keep the name to 100 characters.", field="name")
    return name


def _project_name_require_free(
    *, workspace: Workspace, name: str, project: Project | None = None
) -> None:
    """Names are unique within a workspace in any letter case (the database holds the
    rule; this says it clearly). Callers hold the workspace lock."""
    others = Project.objects.filter(workspace=workspace, name__iexact=name)
    if project is not None:
        others = others.exclude(pk=project.pk)
    existing = others.first()
    if existing is not None:
        raise Conflict(
            f"This workspace already has a project named “{existing.name}”: choose another name.",
            field="name",
        )


def _project_save(project: Project, name: str, **save: object) -> None:
    try:
        with transaction.atomic():
            project.save(**save)
    except IntegrityError as exc:  # a concurrent change took the name
        raise Conflict(
            f"This workspace already has a project named “{name}”: choose another name.",
            field="name",
        ) from exc


def _project_lock(project: Project) -> Project:
    locked = Project.objects.select_for_update().filter(pk=project.pk).first()
    if locked is None:
        raise Conflict("This project was deleted a moment ago.")
    return locked


def _project_member(*, workspace: Workspace, actor: User, doing: str) -> Membership:
    membership = Membership.objects.filter(workspace=workspace, user=actor).first()
    if membership is None:
        raise PermissionDenied(f"Only members of the workspace can {doing}.")
    return membership


def project_create(*, workspace: Workspace, name: str, actor: User) -> Project:
    """Create a project, within the plan's projects limit, under a name no other project of
    the workspace has. Any member may."""
    name = _project_name_clean(name)
    _project_member(workspace=workspace, actor=actor, doing="create projects")
    with plan_policy().paywall_hits_recorded(user_email=actor.email):
        project = _project_create(workspace=workspace, name=name, actor=actor)
    project_created.send(sender=Project, project=project, actor=actor)
    return project


@transaction.atomic
def _project_create(*, workspace: Workspace, name: str, actor: User) -> Project:
    workspace = workspace_lock(workspace)
    _project_name_require_free(workspace=workspace, name=name)
    plan_policy().limit_enforce(workspace, "projects", 1)
    project = Project(workspace=workspace, name=name, created_by=actor)
    _project_save(project, name)
    audit_record(
        action=AuditEvent.Action.PROJECT_CREATED,
        workspace=workspace,
        actor=actor,
        subject=name,
    )
    return project


@transaction.atomic
def project_rename(*, project: Project, name: str, actor: User) -> Project:
    """Rename a project (a change of letter case only is allowed). Any member may."""
    name = _project_name_clean(name)
    workspace = workspace_lock(project.workspace)
    _project_member(workspace=workspace, actor=actor, doing="rename projects")
    project = _project_lock(project)
    if name == project.name:
        return project
    _project_name_require_free(workspace=workspace, name=name, project=project)
    before = project.name
    project.name = name
    _project_save(project, name, update_fields=["name", "updated_at"])
    audit_record(
        action=AuditEvent.Action.PROJECT_RENAMED,
        workspace=workspace,
        actor=actor,
        subject=name,
        before={"name": before},
        after={"name": name},
    )
    return project


@transaction.atomic
def project_delete(*, project: Project, actor: User) -> None:
    """Delete a project; it stops counting against the plan's projects limit at once.
    Owners and admins may delete any project, a member only the ones they created."""
    workspace = workspace_lock(project.workspace)
    membership = _project_member(workspace=workspace, actor=actor, doing="delete projects")
    project = _project_lock(project)
    if not membership.can_manage and project.created_by_id != actor.pk:
        raise PermissionDenied(
            "Only owners, admins and the member who created a project can delete it."
        )
    name = project.name
    project.delete()
    audit_record(
        action=AuditEvent.Action.PROJECT_DELETED,
        workspace=workspace,
        actor=actor,
        subject=name,
        before={"name": name},
    )
