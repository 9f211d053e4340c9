"""The usage API: metered usage, product events and entitlements, for workspace API keys.

Request bodies are validated by hand rather than by DRF serializers: a 1,000-event batch
must be checked in a few milliseconds. The serializers below describe the API for the
OpenAPI schema.
"""

from django.core.validators import RegexValidator
from django.db import DatabaseError, transaction
from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.authentication import ApiKeyAuthentication, HasApiKey
from accounts.api.exceptions import THROTTLED, UNAUTHORIZED, ErrorSerializer
from accounts.json_body import MAX_INTEGER
from billing.entitlements import workspace_entitlements
from billing.limits import upgrade_url_for
from billing.models import Enforcement
from billing.selectors import entitlements_summary
from usage import services
from usage.api.parsers import MAX_DEPTH, IngestionJSONParser
from usage.api.throttling import ApiKeyRateThrottle
from usage.ingestion import (
    KEY_PATTERN,
    MAX_EVENTS,
    MAX_KEY_LENGTH,
    MAX_QUANTITY,
    usage_batch_parse,
    usage_events_ingest,
)
from usage.product_events import (
    MAX_EMAIL_LENGTH,
    MAX_PROPERTIES_CHARS,
    NAME_PATTERN,
    product_batch_parse,
)
from usage.selectors import metric_definitions

EVENT_STATUSES = ["accepted", "duplicate", "rejected"]
REASON_CODES = ["hard_limit", "idempotency_conflict"]
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


class ClosedSerializer(serializers.Serializer):
    # A request object that refuses unknown fields: ``additionalProperties: false`` in the
    # schema (see ClosedSerializerExtension). A comment, not a docstring: subclasses' docstrings
    # are their descriptions in the schema.
    pass


class MetricKeyField(serializers.CharField):
    """A metered metric's key; the schema lists the keys this installation defines."""


KEY_HELP = (
    "Unique per workspace. Sent again with the same event, it is a duplicate, counted once; "
    "with a different event, that event is rejected (409, idempotency_conflict)."
)
TIMESTAMP_HELP = (
    "When it happened: ISO-8601 with a time zone, at most 5 minutes ahead of the server clock"
)
TEXT_HELP = " No text in the request may contain NUL (U+0000)."


class UsageEventSerializer(ClosedSerializer):
    """One usage report. Unknown fields are refused."""

    metric = MetricKeyField(help_text="A metered metric key, such as api_calls or storage_mb.")
    quantity = serializers.IntegerField(
        min_value=0, max_value=MAX_QUANTITY, help_text="A whole number, not negative."
    )
    idempotency_key = serializers.CharField(
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        validators=[RegexValidator(KEY_PATTERN)],
        help_text=f"{KEY_HELP} Not only white space.",
    )
    timestamp = serializers.DateTimeField(
        help_text=f"{TIMESTAMP_HELP}, and not before the start of the metric's current period "
        "(the first of the month, UTC, for monthly metrics)."
    )


class UsageBatchSerializer(ClosedSerializer):
    """A request of metered usage."""

    events = serializers.ListField(
        child=UsageEventSerializer(), min_length=1, max_length=MAX_EVENTS
    )


class EventResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    idempotency_key = serializers.CharField()
    status = serializers.ChoiceField(EVENT_STATUSES)
    code = serializers.ChoiceField(
        [402, 409],
        required=False,
        help_text="For a rejected event: 402 for a hard limit, 409 for an idempotency conflict.",
    )
    reason_code = serializers.ChoiceField(REASON_CODES, required=False)
    reason = serializers.CharField(required=False)
    used = serializers.IntegerField(
        required=False, help_text="A hard limit: what was used before this event."
    )
    limit = serializers.IntegerField(required=False, help_text="A hard limit: its value.")
    requested = serializers.IntegerField(
        required=False, help_text="A hard limit: what this event asked for."
    )
    upgrade_url = serializers.URLField(required=False, help_text="A hard limit: the plan page.")
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


class ProductEventSerializer(ClosedSerializer):
    """One product event. Unknown fields are refused."""

    name = serializers.RegexField(NAME_PATTERN, help_text="snake_case, 1 to 80 characters.")
    user_email = serializers.EmailField(
        required=False,
        allow_blank=True,
        max_length=MAX_EMAIL_LENGTH,
        help_text="The person who did it, if known (empty when not).",
    )
    properties = serializers.DictField(
        required=False,
        help_text=f"Any JSON object of at most {MAX_PROPERTIES_CHARS:,} characters, nested at "
        f"most {MAX_DEPTH} levels deep in the request, integers within ±{MAX_INTEGER:,}."
        f"{TEXT_HELP}",
    )
    idempotency_key = serializers.CharField(
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        validators=[RegexValidator(KEY_PATTERN)],
        help_text=f"{KEY_HELP} Not only white space.",
    )
    timestamp = serializers.DateTimeField(help_text=f"{TIMESTAMP_HELP}.")


class ProductBatchSerializer(ClosedSerializer):
    """A request of product events."""

    events = serializers.ListField(
        child=ProductEventSerializer(), min_length=1, max_length=MAX_EVENTS
    )


class ProductResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = EventResultSerializer(many=True)


class LimitStateSerializer(serializers.Serializer):
    limit = serializers.IntegerField(allow_null=True, help_text="null = unlimited")
    enforcement = serializers.ChoiceField(Enforcement.values)
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


class ClosedSerializerExtension(OpenApiSerializerExtension):
    target_class = ClosedSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        return schema | {"additionalProperties": False}


class MetricKeyFieldExtension(OpenApiSerializerFieldExtension):
    target_class = MetricKeyField

    def map_serializer_field(self, auto_schema, direction):
        # The schema is also generated without a database (``check --deploy`` before
        # ``migrate``): then it names no keys.
        try:
            with transaction.atomic():
                metrics = metric_definitions()
        except DatabaseError:
            return {"type": "string", "minLength": 1}
        return {"type": "string", "enum": sorted(k for k, m in metrics.items() if m.is_metered)}


BAD_REQUEST = OpenApiResponse(
    ErrorSerializer,
    description="The request is malformed: every problem is listed by event index, and "
    "nothing was stored.",
)
UNSUPPORTED = OpenApiResponse(
    ErrorSerializer, description="The body is not application/json: nothing was stored."
)


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
            "1 to 1000 events, as `application/json`. Validation comes first, for the whole "
            "request: any malformed event, or one that would take a counter past "
            "9,223,372,036,854,775,807, rejects the request with 400, its errors listed by "
            "event index, and nothing is stored. Then, per event in order: an idempotency key "
            "seen before, within the request or from an earlier one, with the same metric, "
            "quantity and timestamp is `duplicate` and counted once; with a different one the "
            "event is `rejected` (code 409, `idempotency_conflict`) and the first stands. An "
            "event that would take a hard limit past its value is `rejected` (code 402, "
            "`hard_limit`, with what was used, the limit, what it asked and the upgrade URL) "
            "and is not counted; past a soft limit it is accepted with a warning. The answer "
            "is 200 when nothing was rejected; 402 or 409 when every new event was rejected "
            "for that one reason; 207 otherwise."
        ),
        request=UsageBatchSerializer,
        responses={
            200: UsageResultSerializer,
            207: OpenApiResponse(UsageResultSerializer, description="Some events rejected."),
            400: BAD_REQUEST,
            401: UNAUTHORIZED,
            402: OpenApiResponse(
                UsageResultSerializer, description="Every new event hit a hard limit."
            ),
            409: OpenApiResponse(
                UsageResultSerializer,
                description="Every new event reused an idempotency key with another payload.",
            ),
            415: UNSUPPORTED,
            429: THROTTLED,
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
        workspace = request.auth.workspace
        result = usage_events_ingest(
            workspace=workspace,
            events=events,
            limits=workspace_entitlements(workspace_id=workspace.pk),
            upgrade_url=upgrade_url_for(workspace),
        )
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
            "as `application/json`, each stored once per idempotency key. Malformed input "
            "rejects the whole request with 400 and nothing is stored. A key seen before with "
            "the same event is `duplicate`; with a different one the event is `rejected` "
            "(code 409, `idempotency_conflict`). The answer is 200 when nothing was rejected, "
            "409 when every new event was, 207 otherwise."
        ),
        request=ProductBatchSerializer,
        responses={
            200: ProductResultSerializer,
            207: OpenApiResponse(ProductResultSerializer, description="Some events rejected."),
            400: BAD_REQUEST,
            401: UNAUTHORIZED,
            409: OpenApiResponse(
                ProductResultSerializer,
                description="Every new event reused an idempotency key with another payload.",
            ),
            415: UNSUPPORTED,
            429: THROTTLED,
        },
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
        responses={200: EntitlementsSerializer, 401: UNAUTHORIZED, 429: THROTTLED},
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
