from django.urls import include, path

from billing import views

# Scoped to one workspace; tests/test_tenancy.py checks each answers 404 to members of
# other workspaces.
workspace_patterns = [
    path("plan/", views.workspace_plan, name="workspace_plan"),
]

urlpatterns = [
    path("pricing/", views.pricing, name="pricing"),
    path("w/<slug:workspace_slug>/", include(workspace_patterns)),
]
