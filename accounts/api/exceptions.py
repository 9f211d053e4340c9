"""Turns domain errors into clear 4xx answers in the API."""

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
