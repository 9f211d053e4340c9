"""Two minimal API views for the benchmark: authenticated by a workspace API key, one with
the limit check and one without. Only ``bench.plans`` mounts them."""

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.authentication import ApiKeyAuthentication, HasApiKey
from billing.limits import limit_check


class Plain(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKey]

    def get(self, request: Request) -> Response:
        return Response({"workspace": request.auth.workspace_id})


class Checked(Plain):
    def get(self, request: Request) -> Response:
        result = limit_check(request.auth.workspace_id, "projects", 1)
        return Response({"workspace": request.auth.workspace_id, "status": result.status})


urlpatterns = [
    path("bench/plain", Plain.as_view()),
    path("bench/checked", Checked.as_view()),
]
