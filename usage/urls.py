from django.urls import include, path

from usage import views

workspace_patterns = [
    path("usage/", views.usage, name="workspace_usage"),
]

urlpatterns = [
    path("w/<slug:workspace_slug>/", include(workspace_patterns)),
]
