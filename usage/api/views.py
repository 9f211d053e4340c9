"""The usage API: metered usage, product events and entitlements, for workspace API keys.

Request bodies are validated by hand rather than by DRF serializers: a 1,000-event batch
must be checked in a few milliseconds. The serializers below describe the API for the
OpenAPI schema.
"""

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.authentication import ApiKeyAuthentication, HasApiKey
from usage import services
from usage.api.parsers import IngestionJSONParser
from usage.api.throttling import ApiKeyRateThrottle
from usage.ingestion import usage_batch_parse, usage_events_ingest
from usage.product_events import product_batch_parse
from usage.selectors import entitlements_summary, metric_definitions

EVENT_STATUSES = ["accepted", "duplicate", "rejected"]
LIMIT_STATUSES = ["ok", "near_limit", "at_limit", "over_limit"]


def _status(results: list[dict]) -> int:
    """200 when nothing was rejected. When nothing was accepted either and every rejection
    has one code, that code: 402 (hard limits) or 409 (idempotency conflicts). Otherwise 207:
    the batch was partly accepted, or refused for different reasons."""
    codes = {r["code"] for r in results if r["status"] == "rejected"}
    if not codes:
        return 200
    if len(codes) == 1 and not any(r["status"] == "accepted" for r in results):
        return codes.pop()
    return 207


class KeyAuthenticatedView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKey]
    throttle_classes = [ApiKeyRateThrottle]
    parser_classes = [IngestionJSONParser]


# Schema -------------------------------------------------------------------------------------


class UsageEventSerializer(serializers.Serializer):
    metric = serializers.CharField(help_text="A metered metric key: api_calls, storage_mb.")
    quantity = serializers.IntegerField(min_value=0, help_text="A whole number, not negative.")
    idempotency_key = serializers.CharField(
        max_length=255, help_text="Unique per workspace: a repeat is counted once."
    )
    timestamp = serializers.DateTimeField(
        help_text="When it happened (ISO-8601 with a zone); not in the future, not before the "
        "current period."
    )


class UsageBatchSerializer(serializers.Serializer):
    events = UsageEventSerializer(many=True, min_length=1, max_length=1000)


class EventResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    idempotency_key = serializers.CharField()
    status = serializers.ChoiceField(EVENT_STATUSES)
    code = serializers.IntegerField(required=False, help_text="402 for a hard limit.")
    reason = serializers.CharField(required=False)
    upgrade_url = serializers.CharField(required=False)
    warning = serializers.CharField(required=False, help_text="Over a soft limit.")


class MetricStateSerializer(serializers.Serializer):
    used = serializers.IntegerField()
    limit = serializers.IntegerField(allow_null=True)
    enforcement = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(LIMIT_STATUSES)
    period_start = serializers.DateTimeField(allow_null=True)


class UsageResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = EventResultSerializer(many=True)
    metrics = serializers.DictField(child=MetricStateSerializer())


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = serializers.ListField(child=serializers.DictField(), required=False)


class ProductEventSerializer(serializers.Serializer):
    name = serializers.RegexField(r"^[a-z][a-z0-9_]{0,79}$")
    user_email = serializers.EmailField(required=False)
    properties = serializers.DictField(required=False)
    idempotency_key = serializers.CharField(max_length=255)
    timestamp = serializers.DateTimeField()


class ProductBatchSerializer(serializers.Serializer):
    events = ProductEventSerializer(many=True, min_length=1, max_length=1000)


class ProductResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    results = EventResultSerializer(many=True)


class LimitStateSerializer(serializers.Serializer):
    limit = serializers.IntegerField(allow_null=True, help_text="null = unlimited")
    enforcement = serializers.ChoiceField(["hard", "soft"])
    used = serializers.IntegerField()
    remaining = serializers.IntegerField(allow_null=True)
    status = serializers.ChoiceField(LIMIT_STATUSES)
    source = serializers.CharField(help_text="plan, seats paid or override")
    resets = serializers.ChoiceField(["monthly", "never"])


class EntitlementsSerializer(serializers.Serializer):
    workspace = serializers.SlugField()
    plan = serializers.DictField()
    limits = serializers.DictField(child=LimitStateSerializer())
    features = serializers.DictField(child=serializers.BooleanField())


USAGE_EXAMPLE = {
    "events": [
        {
            "metric": "api_calls",
            "quantity": 120,
            "idempotency_key": "req-2026-11-22-0001",
            "timestamp": "2026-11-22T10:00:00Z",
        },
        {
            "metric": "storage_mb",
            "quantity": 420,
            "idempotency_key": "storage-2026-11-22",
            "timestamp": "2026-11-22T10:00:00Z",
        },
    ]
}


# Views --------------------------------------------------------------------------------------


class UsageEventsView(KeyAuthenticatedView):
    @extend_schema(
        operation_id="usage_events_create",
        summary="Report metered usage",
        description=(
            "1 to 1000 events. Validation comes first, for the whole request: any malformed "
            "event rejects the request with 400, its errors listed by event index, and "
            "nothing is stored. Then limits, per event in order: an event that would take a "
            "hard limit past its value is rejected (code 402, with the upgrade URL) and is "
            "not counted; past a soft limit it is accepted with a warning. A repeated "
            "idempotency key, within the request or from an earlier one, is answered "
            "`duplicate` and counted once. The answer is 200 when nothing was rejected, 207 "
            "when some events were, and 402 when every new event was."
        ),
        request=UsageBatchSerializer,
        responses={
            200: UsageResultSerializer,
            207: UsageResultSerializer,
            400: ErrorSerializer,
            401: ErrorSerializer,
            402: UsageResultSerializer,
            429: OpenApiResponse(ErrorSerializer, description="Rate limited; see Retry-After."),
        },
        examples=[
            OpenApiExample("Two events", value=USAGE_EXAMPLE, request_only=True),
            OpenApiExample(
                "Accepted",
                response_only=True,
                status_codes=["200"],
                value={
                    "accepted": 1,
                    "duplicates": 1,
                    "rejected": 0,
                    "results": [
                        {"index": 0, "idempotency_key": "req-1", "status": "accepted"},
                        {"index": 1, "idempotency_key": "req-1", "status": "duplicate"},
                    ],
                    "metrics": {
                        "api_calls": {
                            "used": 8120,
                            "limit": 10000,
                            "enforcement": "hard",
                            "status": "near_limit",
                            "period_start": "2026-11-01T00:00:00Z",
                        }
                    },
                },
            ),
            OpenApiExample(
                "Bad request",
                response_only=True,
                status_codes=["400"],
                value={
                    "detail": "The request was rejected: 1 problem(s); nothing stored.",
                    "errors": [{"index": 3, "field": "quantity", "message": "cannot be negative"}],
                },
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        events = usage_batch_parse(request.data, metrics=metric_definitions())
        result = usage_events_ingest(workspace=request.auth.workspace, events=events)
        counts = result.counts
        body = {
            "accepted": counts["accepted"],
            "duplicates": counts["duplicate"],
            "rejected": counts["rejected"],
            "results": result.results,
            "metrics": result.metrics,
        }
        return Response(body, status=_status(result.results))


class ProductEventsView(KeyAuthenticatedView):
    @extend_schema(
        operation_id="product_events_create",
        summary="Send product events",
        description=(
            "Behavioural signals (project_created, report_exported …), 1 to 1000 per request, "
            "each stored once per idempotency key. Malformed input rejects the whole request "
            "with 400 and nothing is stored."
        ),
        request=ProductBatchSerializer,
        responses={200: ProductResultSerializer, 400: ErrorSerializer, 401: ErrorSerializer},
        examples=[
            OpenApiExample(
                "An event",
                request_only=True,
                value={
                    "events": [
                        {
                            "name": "report_exported",
                            "user_email": "ada@northwind.io",
                            "properties": {"format": "csv"},
                            "idempotency_key": "evt-81f2",
                            "timestamp": "2026-11-22T10:00:00Z",
                        }
                    ]
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        events = product_batch_parse(request.data)
        results = services.product_events_ingest(
            workspace_id=request.auth.workspace_id, events=events
        )
        counts = dict.fromkeys(EVENT_STATUSES, 0)
        for result in results:
            counts[result["status"]] += 1
        body = {
            "accepted": counts["accepted"],
            "duplicates": counts["duplicate"],
            "rejected": counts["rejected"],
            "results": results,
        }
        return Response(body, status=_status(results))


class EntitlementsView(KeyAuthenticatedView):
    @extend_schema(
        operation_id="entitlements_retrieve",
        summary="The workspace's plan, limits, usage and features",
        responses={200: EntitlementsSerializer, 401: ErrorSerializer},
        examples=[
            OpenApiExample(
                "Free plan",
                response_only=True,
                value={
                    "workspace": "northwind",
                    "plan": {"code": "free", "name": "Free", "status": "active"},
                    "limits": {
                        "seats": {
                            "limit": 3,
                            "enforcement": "hard",
                            "used": 2,
                            "remaining": 1,
                            "status": "ok",
                            "source": "plan",
                            "resets": "never",
                        }
                    },
                    "features": {"sso": False, "audit_log": False},
                },
            )
        ],
    )
    def get(self, request: Request) -> Response:
        return Response(entitlements_summary(workspace=request.auth.workspace))
