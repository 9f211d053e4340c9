from django.urls import path

from accounts.api.views import WorkspaceView

urlpatterns = [
    path("workspace", WorkspaceView.as_view(), name="api_workspace"),
]
