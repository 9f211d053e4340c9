"""The workspace as its API key sees it."""

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.authentication import ApiKeyAuthentication, HasApiKey
from accounts.api.exceptions import THROTTLED, UNAUTHORIZED


class WorkspaceSerializer(serializers.Serializer):
    name = serializers.CharField()
    slug = serializers.SlugField()
    company_domain = serializers.CharField()
    time_zone = serializers.CharField()
    created_at = serializers.DateTimeField()
    activated_at = serializers.DateTimeField(allow_null=True)
    members = serializers.IntegerField()


class WorkspaceView(APIView):
    """The workspace the API key belongs to."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKey]

    @extend_schema(
        operation_id="workspace_retrieve",
        responses={200: WorkspaceSerializer, 401: UNAUTHORIZED, 429: THROTTLED},
        examples=[
            OpenApiExample(
                "Workspace",
                value={
                    "name": "Northwind",
                    "slug": "northwind",
                    "company_domain": "northwind.io",
                    "time_zone": "Europe/Berlin",
                    "created_at": "2026-03-02T09:15:00Z",
                    "activated_at": "2026-03-02T09:41:12Z",
                    "members": 4,
                },
                response_only=True,
            )
        ],
    )
    def get(self, request: Request) -> Response:
        workspace = request.auth.workspace
        data = WorkspaceSerializer(
            {
                "name": workspace.name,
                "slug": workspace.slug,
                "company_domain": workspace.company_domain,
                "time_zone": workspace.time_zone,
                "created_at": workspace.created_at,
                "activated_at": workspace.activated_at,
                "members": workspace.memberships.count(),
            }
        ).data
        return Response(data)
