"""Tenancy: a user of one workspace gets 404 for every URL of another.

Every URL pattern with a ``workspace_slug`` must have a case in ``WORKSPACE_URLS``; the last
test fails when a workspace-scoped URL is added without one.
"""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts import services
from accounts.models import Membership, Role, Workspace
from tests.factories import UserFactory, add_member

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Objects:
    """One workspace with one of everything a URL can point at."""

    workspace: Workspace
    member: Membership
    invitation_id: int
    api_key_id: int
    project_id: int
    notice_id: int = 0  # an in-app notice to the workspace's owner


def _populate(workspace: Workspace) -> Objects:
    actor = workspace.created_by
    member = add_member(workspace, f"someone@{workspace.slug}.io", role=Role.MEMBER)
    invitation, _ = services.invitation_create(
        workspace=workspace, email=f"invitee@{workspace.slug}.io", actor=actor
    )
    api_key, _ = services.api_key_create(workspace=workspace, name="key", actor=actor)
    project = services.project_create(workspace=workspace, name="Launch", actor=actor)
    notice = _notice(workspace)
    return Objects(workspace, member, invitation.pk, api_key.pk, project.pk, notice.pk)


def _notice(workspace: Workspace):
    from notifications.models import Kind, Notification
    from notifications.services import notifications_record

    notifications_record(
        workspace=workspace,
        kind=Kind.USAGE_ALERT,
        dedupe_key="tenancy",
        cause="a test",
        context={"metric_name": "API calls", "used": 8, "limit": 10, "threshold": 80},
        link="/",
        link_label="Upgrade",
        in_app=True,
    )
    return Notification.objects.get(workspace=workspace, channel="in_app")


# name -> (HTTP method, the URL's object kwargs taken from a workspace's objects, or None)
WORKSPACE_URLS: dict[str, tuple[str, Callable[[Objects], dict] | None]] = {
    "workspace_onboarding": ("get", None),
    "workspace_welcome": ("post", None),
    "workspace_usage": ("get", None),
    "workspace_members": ("get", None),
    "workspace_invite": ("post", None),
    "workspace_member_role": ("post", lambda o: {"membership_id": o.member.pk}),
    "workspace_member_remove": ("post", lambda o: {"membership_id": o.member.pk}),
    "workspace_invitation_resend": ("post", lambda o: {"invitation_id": o.invitation_id}),
    "workspace_invitation_revoke": ("post", lambda o: {"invitation_id": o.invitation_id}),
    "workspace_api_keys": ("get", None),
    "workspace_api_key_create": ("post", None),
    "workspace_api_key_revoke": ("post", lambda o: {"api_key_id": o.api_key_id}),
    "workspace_projects": ("get", None),
    "workspace_project_create": ("post", None),
    "workspace_project_rename": ("post", lambda o: {"project_id": o.project_id}),
    "workspace_project_delete": ("post", lambda o: {"project_id": o.project_id}),
    "workspace_settings": ("post", None),
    "workspace_delete": ("post", None),
    "workspace_audit_log": ("get", None),
    "workspace_plan": ("get", None),
    "workspace_billing": ("get", None),
    "workspace_billing_checkout": ("post", None),
    "workspace_billing_change": ("get", None),
    "workspace_billing_cancel": ("post", None),
    "workspace_billing_resume": ("post", None),
    "workspace_billing_portal": ("post", None),
    "workspace_billing_return": ("get", None),
    "workspace_billing_status": ("get", None),
    "workspace_notifications": ("get", None),
    "workspace_notification_preferences": ("post", None),
    "workspace_notice_dismiss": ("post", lambda o: {"notification_id": o.notice_id}),
}

POST_DATA = {
    "email": "x@y.io",
    "role": "admin",
    "name": "stolen",
    "slug": "stolen",
    "confirmation": "theirs",
}
# Pages that also answer GET (a form or a confirmation) besides the POST above.
ALSO_GET = ["workspace_project_rename", "workspace_project_delete", "workspace_settings"]
ALSO_GET += ["workspace_delete"]


@pytest.fixture
def two_workspaces():
    mine = services.workspace_create(name="Mine", owner=UserFactory(email="me@mine.io"))
    theirs = services.workspace_create(name="Theirs", owner=UserFactory(email="boss@theirs.io"))
    return _populate(mine), _populate(theirs)


def _snapshot() -> tuple:
    from accounts.models import ApiKey, Invitation, Project, WorkspaceFormerSlug
    from billing.models import Cancellation, LocalStripeObject, Subscription
    from notifications.models import Notification, OptOut
    from usage.models import ProductEvent

    return (
        sorted(Membership.objects.values_list("workspace_id", "user_id", "role")),
        sorted(Invitation.objects.values_list("id", "token_hash", "revoked_at", "role")),
        sorted(ApiKey.objects.values_list("id", "revoked_at")),
        sorted(Project.objects.values_list("id", "workspace_id", "name")),
        ProductEvent.objects.count(),  # a paywall hit is recorded for nobody else's workspace
        sorted(Subscription.objects.values_list("workspace_id", "plan_id", "seats", "status")),
        Cancellation.objects.count(),
        LocalStripeObject.objects.count(),  # no checkout or portal session for someone else
        sorted(Workspace.objects.values_list("id", "name", "slug", "deleted_at")),
        sorted(WorkspaceFormerSlug.objects.values_list("slug", "workspace_id")),
        sorted(Notification.objects.values_list("id", "dismissed_at")),
        OptOut.objects.count(),
    )


@pytest.mark.parametrize("name", sorted(WORKSPACE_URLS))
def test_owner_of_one_workspace_gets_404_for_every_url_of_another(client, two_workspaces, name):
    mine, theirs = two_workspaces
    client.force_login(mine.workspace.created_by)
    method, object_kwargs = WORKSPACE_URLS[name]
    kwargs = object_kwargs(theirs) if object_kwargs else {}
    url = reverse(name, kwargs={"workspace_slug": theirs.workspace.slug, **kwargs})
    before = _snapshot()

    response = getattr(client, method)(url, POST_DATA if method == "post" else None)

    assert response.status_code == 404
    assert _snapshot() == before


@pytest.mark.parametrize("name", sorted(n for n, (_, kw) in WORKSPACE_URLS.items() if kw))
def test_objects_of_another_workspace_are_404_under_ones_own_slug(client, two_workspaces, name):
    mine, theirs = two_workspaces
    client.force_login(mine.workspace.created_by)
    method, object_kwargs = WORKSPACE_URLS[name]
    url = reverse(name, kwargs={"workspace_slug": mine.workspace.slug, **object_kwargs(theirs)})
    before = _snapshot()

    response = getattr(client, method)(url, POST_DATA if method == "post" else None)

    assert response.status_code == 404
    assert _snapshot() == before


@pytest.mark.parametrize("name", ALSO_GET)
def test_the_forms_and_confirmations_of_another_workspace_are_404_too(client, two_workspaces, name):
    mine, theirs = two_workspaces
    client.force_login(mine.workspace.created_by)
    _, object_kwargs = WORKSPACE_URLS[name]
    kwargs = object_kwargs(theirs) if object_kwargs else {}
    url = reverse(name, kwargs={"workspace_slug": theirs.workspace.slug, **kwargs})

    assert client.get(url).status_code == 404


def test_a_former_slug_of_another_workspace_is_404_not_a_redirect(client, two_workspaces):
    mine, theirs = two_workspaces
    old_slug = theirs.workspace.slug
    services.workspace_update(
        workspace=theirs.workspace,
        actor=theirs.workspace.created_by,
        name=theirs.workspace.name,
        slug="theirs-renamed",
    )
    client.force_login(mine.workspace.created_by)

    for path in (f"/w/{old_slug}/", f"/w/{old_slug}/settings/", f"/w/{old_slug}/members/"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "theirs-renamed" not in response.text


def test_an_api_key_sees_only_its_own_workspace(client, two_workspaces):
    _, theirs = two_workspaces
    _, raw_key = services.api_key_create(
        workspace=theirs.workspace, name="k", actor=theirs.workspace.created_by
    )

    response = client.get("/api/v1/workspace", HTTP_AUTHORIZATION=f"Bearer {raw_key}")

    assert response.json()["slug"] == theirs.workspace.slug


def _patterns(resolver: URLResolver, prefix: str = "") -> list[tuple[str, str | None]]:
    found = []
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            found += _patterns(entry, route)
        elif isinstance(entry, URLPattern):
            found.append((route, entry.name))
    return found


def test_every_workspace_scoped_url_has_a_tenancy_case():
    scoped = {name for route, name in _patterns(get_resolver()) if "workspace_slug" in route}

    assert scoped == set(WORKSPACE_URLS), (
        "Add each new workspace-scoped URL to WORKSPACE_URLS in tests/test_tenancy.py "
        f"(missing: {sorted(scoped - set(WORKSPACE_URLS))}, "
        f"stale: {sorted(set(WORKSPACE_URLS) - scoped)})"
    )
