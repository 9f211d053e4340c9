from django.urls import include, path

from accounts import views

# Every pattern here is scoped to one workspace; tests/test_tenancy.py checks each
# one answers 404 to members of other workspaces, and fails for a pattern it does not know.
workspace_patterns = [
    path("", views.onboarding, name="workspace_onboarding"),
    path("welcome/", views.welcome, name="workspace_welcome"),
    path("members/", views.members, name="workspace_members"),
    path("members/invite/", views.invitation_create, name="workspace_invite"),
    path(
        "members/<int:membership_id>/role/",
        views.member_change_role,
        name="workspace_member_role",
    ),
    path(
        "members/<int:membership_id>/remove/",
        views.member_remove,
        name="workspace_member_remove",
    ),
    path(
        "invitations/<int:invitation_id>/resend/",
        views.invitation_resend,
        name="workspace_invitation_resend",
    ),
    path(
        "invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="workspace_invitation_revoke",
    ),
    path("api-keys/", views.api_keys, name="workspace_api_keys"),
    path("api-keys/new/", views.api_key_create, name="workspace_api_key_create"),
    path(
        "api-keys/<int:api_key_id>/revoke/",
        views.api_key_revoke,
        name="workspace_api_key_revoke",
    ),
    path("projects/", views.projects, name="workspace_projects"),
    path("projects/new/", views.project_create, name="workspace_project_create"),
    path(
        "projects/<int:project_id>/rename/",
        views.project_rename,
        name="workspace_project_rename",
    ),
    path(
        "projects/<int:project_id>/delete/",
        views.project_delete,
        name="workspace_project_delete",
    ),
    path("audit-log/", views.audit_log, name="workspace_audit_log"),
    path("settings/", views.workspace_settings, name="workspace_settings"),
    path("settings/delete/", views.workspace_delete, name="workspace_delete"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("signup/", views.signup, name="signup"),
    path("workspaces/new/", views.workspace_new, name="workspace_new"),
    path("account/", views.profile, name="profile"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path("w/<slug:workspace_slug>/", include(workspace_patterns)),
    path("password_reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("", include("django.contrib.auth.urls")),
]
