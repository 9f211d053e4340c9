"""The workspace's Notifications page (what was sent, and each person's choices), in-app
notices dismissed, the one-click unsubscribe page, and the staff page of every template."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.errors import ApplicationError
from accounts.models import Membership, Workspace
from accounts.views import workspace_view
from notifications import selectors, services
from notifications.content import SAMPLES, message_render
from notifications.models import OPTIONAL_KINDS, REQUIRED_KINDS, Kind
from notifications.unsubscribe import UnsubscribeLinkInvalid, unsubscribe_read

PAGE_SIZE = 50
TEMPLATE = "notifications/notifications.html"


def _page_context(request: HttpRequest, membership: Membership) -> dict:
    workspace = membership.workspace
    off = selectors.user_opt_outs(user=request.user, workspace=workspace)
    page = Paginator(selectors.workspace_notifications(workspace=workspace), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return {
        "membership": membership,
        "workspace": workspace,
        "choices": [(kind, kind.label, kind not in off) for kind in OPTIONAL_KINDS],
        "required": [Kind(kind).label for kind in sorted(REQUIRED_KINDS)],
        "page": page,
    }


@require_safe
@workspace_view
def notifications_page(request: HttpRequest, membership: Membership) -> HttpResponse:
    """Every message sent about the workspace (who, what, when, which event caused it) and
    the viewer's own choice of what they receive. Owners and admins only."""
    if not membership.can_manage:
        context = {
            "membership": membership,
            "workspace": membership.workspace,
            "forbidden": "Only owners and admins of this workspace receive its notifications.",
        }
        return render(request, TEMPLATE, context, status=403)
    return render(request, TEMPLATE, _page_context(request, membership))


@require_POST
@workspace_view
def notification_preferences(request: HttpRequest, membership: Membership) -> HttpResponse:
    """Save the viewer's choices: the kinds checked stay on, the others go off."""
    if not membership.can_manage:
        raise Http404
    try:
        services.notification_preferences_set(
            user=request.user, workspace=membership.workspace, enabled=request.POST.getlist("kinds")
        )
    except ApplicationError as exc:
        context = _page_context(request, membership) | {"error": exc.message}
        return render(request, TEMPLATE, context, status=exc.status)
    messages.success(request, "Your choices are saved.")
    return HttpResponseRedirect(
        reverse("workspace_notifications", kwargs={"workspace_slug": membership.workspace.slug})
    )


@require_POST
@workspace_view
def notice_dismiss(request: HttpRequest, membership: Membership, notification_id: int):
    """Hide one of the viewer's in-app notices, then go back to the page it was on."""
    try:
        services.notice_dismiss(
            user=request.user, workspace=membership.workspace, notification_id=notification_id
        )
    except services.NoticeNotFound as exc:
        raise Http404 from exc
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = reverse(
            "workspace_notifications", kwargs={"workspace_slug": membership.workspace.slug}
        )
    return HttpResponseRedirect(back)


@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """The link in an optional e-mail, no log-in needed: GET shows what it turns off and a
    button; only the POST turns it off. A link that was changed is refused (400)."""
    template = "notifications/unsubscribe.html"
    try:
        user_id, workspace_id, kind = unsubscribe_read(token)
    except UnsubscribeLinkInvalid as exc:
        return render(request, template, {"error": exc.message}, status=exc.status)
    workspace = Workspace.objects.filter(pk=workspace_id, deleted_at__isnull=True).first()
    if workspace is None:
        return render(request, template, {"error": "This workspace no longer exists."}, status=404)
    context = {"workspace_name": workspace.name, "kind_label": Kind(kind).label, "done": False}
    if request.method == "POST":
        context["done"] = services.notification_unsubscribe(
            user_id=user_id, workspace_id=workspace_id, kind=kind
        )
    return render(request, template, context)


@require_safe
@login_required
@permission_required("notifications.view_notification", raise_exception=True)
def templates_preview(request: HttpRequest) -> HttpResponse:
    """Staff: every message template, rendered with sample data."""
    rendered = []
    for kind in Kind:
        subject, body = message_render(kind=kind, context=SAMPLES[kind])
        rendered.append(
            {
                "kind": kind,
                "label": kind.label,
                "optional": kind in OPTIONAL_KINDS,
                "subject": subject,
                "body": body,
                "files": [
                    f"templates/notifications/email/{kind}_subject.txt",
                    f"templates/notifications/email/{kind}.txt",
                ],
            }
        )
    return render(request, "notifications/templates_preview.html", {"templates": rendered})
