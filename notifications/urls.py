from django.urls import include, path

from notifications import views

# Scoped to one workspace; tests/test_tenancy.py checks each answers 404 to members of
# other workspaces.
workspace_patterns = [
    path("notifications/", views.notifications_page, name="workspace_notifications"),
    path(
        "notifications/preferences/",
        views.notification_preferences,
        name="workspace_notification_preferences",
    ),
    path(
        "notifications/<int:notification_id>/dismiss/",
        views.notice_dismiss,
        name="workspace_notice_dismiss",
    ),
]

urlpatterns = [
    path(
        "notifications/unsubscribe/<str:token>/",
        views.unsubscribe,
        name="notifications_unsubscribe",
    ),
    path("notifications/templates/", views.templates_preview, name="notification_templates"),
    path("w/<slug:workspace_slug>/", include(workspace_patterns)),
]
