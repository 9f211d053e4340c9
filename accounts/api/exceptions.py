"""Turns domain errors into clear 4xx answers in the API, and describes them in the schema."""

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from accounts.errors import ApplicationError


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, plus ApplicationError → its status with the message and field."""
    if isinstance(exc, ApplicationError):
        body: dict[str, str] = {"detail": exc.message}
        if exc.field:
            body["field"] = exc.field
        if errors := getattr(exc, "errors", None):
            body["errors"] = errors
        return Response(body, status=exc.status)
    return drf_exception_handler(exc, context)


class ErrorSerializer(serializers.Serializer):
    """Every error answer of the API (the schema's view of ``exception_handler``)."""

    detail = serializers.CharField()
    field = serializers.CharField(required=False, help_text="The field at fault, if one is.")
    errors = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text="Each problem of a refused request: index (of the event), field, message.",
    )


UNAUTHORIZED = OpenApiResponse(
    ErrorSerializer, description="No workspace API key, or a malformed, wrong or revoked one."
)
THROTTLED = OpenApiResponse(
    ErrorSerializer,
    description=(
        "Over the key's rate limit, or too many failed API key authentications from the "
        "client's address: retry after the seconds in the Retry-After header."
    ),
)
