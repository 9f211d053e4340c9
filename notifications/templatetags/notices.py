from django import template

from notifications.selectors import user_open_notices

register = template.Library()


@register.inclusion_tag("notifications/_notices.html", takes_context=True)
def workspace_notices(context: template.Context, workspace: object) -> dict:
    """The viewer's in-app notices in the workspace (usage alerts), each dismissable."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not getattr(workspace, "pk", None):
        return {"notices": []}
    return {
        "notices": user_open_notices(user_id=user.pk, workspace_id=workspace.pk),
        "workspace": workspace,
        "next": request.get_full_path(),
    }
