"""The leads API: the sales queue and the actions on a lead, for sales staff in a browser
session (with its CSRF token). Workspace API keys are not accepted here.

Views are thin: the queue's parameters are parsed by ``queue_query_parse`` (a bad one is a 400
naming it), pages come from ``leads_queue`` and ``queue_rows`` (a constant number of queries
whatever the page size), and every action is one service call, whose ``ApplicationError``
becomes its status with the message and the field.
"""

from urllib.parse import urlencode

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.exceptions import ErrorSerializer
from accounts.errors import ApplicationError, NotFound, PermissionDenied
from pql import selectors, services
from pql.api.serializers import (
    AssignRequestSerializer,
    ContactRequestSerializer,
    EmptyRequestSerializer,
    LeadDetailSerializer,
    LeadPageSerializer,
    NoteRequestSerializer,
    StatusRequestSerializer,
    TimelineEntrySerializer,
    lead_data,
    lead_detail_data,
    request_data,
    timeline_entry_data,
)
from pql.services.queue import ASSIGN_MESSAGE, WORK
from usage.api.parsers import IngestionJSONParser
from usage.ingestion import BatchInvalid

ROLE_MESSAGE = "Only sales reps and managers (staff in the Sales group) use the leads API."
ANONYMOUS_MESSAGE = (
    "Log in as a sales rep: the leads API takes a browser session with its CSRF token."
)
API_KEY_MESSAGE = (
    "Workspace API keys cannot use the leads API: log in as a sales rep and use the session."
)


class IsSalesStaff:
    """Active staff with ``pql.work_lead`` (the Sales group), or superusers."""

    message = ROLE_MESSAGE

    def has_permission(self, request: Request, view: object) -> bool:
        user = request.user
        return bool(
            user.is_authenticated
            and user.is_active
            and (user.is_staff or user.is_superuser)
            and user.has_perm(WORK)
        )

    def has_object_permission(self, request: Request, view: object, obj: object) -> bool:
        return True


class LeadsJSONParser(IngestionJSONParser):
    """The API's one JSON parser (size cap, depth cap, no NUL or lone surrogates), with its
    refusals worded for a request body rather than an event batch."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except BatchInvalid as error:
            raise ApplicationError(error.errors[0]["message"], field="body") from None


class SalesView(APIView):
    authentication_classes = [SessionAuthentication]
    permission_classes = [IsSalesStaff]
    parser_classes = [LeadsJSONParser]

    def permission_denied(self, request: Request, message=None, code=None):
        if request.user.is_authenticated:
            raise exceptions.PermissionDenied(message or ROLE_MESSAGE)
        if request.META.get("HTTP_AUTHORIZATION"):
            raise exceptions.PermissionDenied(API_KEY_MESSAGE)
        raise exceptions.PermissionDenied(ANONYMOUS_MESSAGE)


# Schema -----------------------------------------------------------------------------------------

FORBIDDEN = OpenApiResponse(
    ErrorSerializer,
    description="Not logged in, a workspace API key, a missing CSRF token, or not sales staff "
    "(some actions: not a sales manager, or not the lead's owner).",
)
NOT_FOUND = OpenApiResponse(
    ErrorSerializer,
    description="There is no such lead (or, to assign, no such user: `field` is `owner`).",
)
CONFLICT = OpenApiResponse(
    ErrorSerializer,
    description="The lead's state refuses it: closed, claimed by someone else (named), a "
    "status that cannot follow the current one, or (to assign) a user who is not a sales rep.",
)
BAD_BODY = OpenApiResponse(
    ErrorSerializer,
    description="The body is malformed or names a field the action does not take (`field` "
    "says which); nothing changed.",
)
UNSUPPORTED = OpenApiResponse(ErrorSerializer, description="The body is not application/json.")
LEAD_ID = OpenApiParameter("lead_id", OpenApiTypes.INT, OpenApiParameter.PATH)

LEAD_EXAMPLE = {
    "id": 412,
    "url": "/api/v1/pql/leads/412",
    "workspace": {"id": 87, "name": "Northwind", "company_domain": "northwind.io"},
    "type": "upgrade",
    "status": "working",
    "fit": 72,
    "engagement": 81,
    "trend": "+18 since last week",
    "reasons": [
        "uses 92% of 10,000 API calls",
        "5 active people this week, up from 2",
        "company e-mail domain northwind.io",
    ],
    "plan": {
        "code": "free",
        "name": "Free",
        "is_paid": False,
        "seats_paid": 0,
        "mrr_cents": 0,
        "currency": "usd",
        "next_plan_name": "Team",
        "next_plan_mrr_cents": 4900,
    },
    "seats_used": 3,
    "opened_at": "2026-11-20T10:00:00Z",
    "age_seconds": 172800,
    "sla_due_at": "2026-11-24T10:00:00Z",
    "sla_state": "due",
    "first_contact_at": None,
    "owner": {"id": 5, "email": "rep@handoff.example"},
    "snoozed_until": None,
    "closed_at": None,
    "close_reason": "",
}
LEAD_DETAIL_EXAMPLE = LEAD_EXAMPLE | {
    "won_via": "",
    "score": {
        "fit": 72,
        "engagement": 81,
        "is_pql": True,
        "computed_at": "2026-11-22T09:00:00Z",
        "explanation": [
            {
                "signal": "usage_share",
                "group": "engagement",
                "raw": 92,
                "points": 20,
                "text": "uses 92% of 10,000 API calls",
            }
        ],
    },
    "timeline": [
        {
            "id": 1,
            "kind": "opened",
            "at": "2026-11-20T10:00:00Z",
            "actor": None,
            "data": {"type": "upgrade", "fit": 70, "engagement": 66},
        },
        {
            "id": 2,
            "kind": "claimed",
            "at": "2026-11-20T10:05:00Z",
            "actor": {"id": 5, "email": "rep@handoff.example"},
            "data": {"owner": "rep@handoff.example"},
        },
    ],
}
LEAD_ANSWER = OpenApiExample(
    "The lead", value=LEAD_DETAIL_EXAMPLE, response_only=True, status_codes=["200", "201"]
)
CLAIMED_ELSEWHERE = OpenApiExample(
    "Claimed by someone else",
    value={"detail": "ada@handoff.example has already claimed this lead."},
    response_only=True,
    status_codes=["409"],
)


def _detail(lead_id: int) -> Response:
    detail = selectors.lead_detail(lead_id=lead_id)
    if detail is None:
        raise services.LeadNotFound(f"There is no lead {lead_id}.")
    return Response(LeadDetailSerializer(lead_detail_data(detail)).data)


PERCENT = {"type": "integer", "minimum": 0, "maximum": 100}
QUEUE_PARAMETERS = [
    OpenApiParameter(
        "status",
        str,
        enum=list(selectors.STATUS_CHOICES),
        description="open (default: new, working, contacted, qualified), all, or one status.",
    ),
    OpenApiParameter(
        "owner",
        str,
        pattern=r"^(mine|unassigned|[0-9]{1,18})$",
        description="mine, unassigned or a rep's user id.",
    ),
    OpenApiParameter("type", str, enum=["upgrade", "expansion"]),
    OpenApiParameter("score_min", PERCENT, description="Engagement at least (0-100)."),
    OpenApiParameter("score_max", PERCENT, description="Engagement at most (0-100)."),
    OpenApiParameter("fit_min", PERCENT, description="Fit at least (0-100)."),
    OpenApiParameter("fit_max", PERCENT, description="Fit at most (0-100)."),
    OpenApiParameter("plan", str, description="A plan's code (free, team …)."),
    OpenApiParameter(
        "signal", str, enum=sorted(selectors.SIGNALS), description="Among the top reasons."
    ),
    OpenApiParameter("sla", str, enum=list(selectors.SLA_STATES)),
    OpenApiParameter(
        "q", {"type": "string", "maxLength": 200}, description="Search workspace names and domains."
    ),
    OpenApiParameter(
        "sort",
        str,
        enum=list(selectors.SORTS),
        description="score (highest first, the default), -score, age (oldest first), -age, "
        "sla (soonest due first).",
    ),
    OpenApiParameter(
        "snoozed",
        str,
        enum=[v for v in selectors.SNOOZED_VALUES if v],
        description="true to include snoozed leads.",
    ),
    OpenApiParameter("after", str, description="The page marker from the previous page's `next`."),
    OpenApiParameter(
        "size",
        {"type": "integer", "minimum": 1, "maximum": selectors.PAGE_SIZE_MAX},
        description=f"Leads per page, 1-{selectors.PAGE_SIZE_MAX} (default 50).",
    ),
]

# Views ------------------------------------------------------------------------------------------


class LeadListView(SalesView):
    @extend_schema(
        operation_id="pql_leads_list",
        summary="The sales queue",
        description=(
            "Leads with the queue's filters, sort and search (the parameters of `/sales/`), a "
            "page at a time by keyset: follow `next`, which carries `after`. A parameter out "
            "of range or unknown answers 400 naming it."
        ),
        parameters=QUEUE_PARAMETERS,
        responses={
            200: LeadPageSerializer,
            400: OpenApiResponse(ErrorSerializer, description="A bad parameter, named."),
            403: FORBIDDEN,
        },
        examples=[
            OpenApiExample(
                "A page",
                response_only=True,
                value={
                    "results": [LEAD_EXAMPLE],
                    "next": "http://testserver/api/v1/pql/leads?sort=score&after=WzgxLDQxMl0",
                },
            ),
            OpenApiExample(
                "A bad parameter",
                response_only=True,
                status_codes=["400"],
                value={"detail": "score_min must be between 0 and 100.", "field": "score_min"},
            ),
        ],
    )
    def get(self, request: Request) -> Response:
        query = selectors.queue_query_parse(request.query_params)
        page = selectors.leads_queue(query, actor=request.user)
        rows = selectors.queue_rows(page.leads)
        following = None
        if page.next_after:
            params = {k: v for k, v in request.query_params.items() if k in selectors.QUERY_PARAMS}
            params["after"] = page.next_after
            following = request.build_absolute_uri(f"{request.path}?{urlencode(params)}")
        body = {"results": [lead_data(row) for row in rows], "next": following}
        return Response(LeadPageSerializer(body).data)


class LeadDetailView(SalesView):
    @extend_schema(
        operation_id="pql_leads_retrieve",
        summary="A lead, its score explained and its timeline",
        parameters=[LEAD_ID],
        responses={200: LeadDetailSerializer, 403: FORBIDDEN, 404: NOT_FOUND},
        examples=[LEAD_ANSWER],
    )
    def get(self, request: Request, lead_id: int) -> Response:
        return _detail(lead_id)


def _action_schema(operation_id, summary, description, request, examples=(), created=False):
    ok = 201 if created else 200
    answer = TimelineEntrySerializer if request is NoteRequestSerializer else LeadDetailSerializer
    return extend_schema(
        operation_id=operation_id,
        summary=summary,
        description=description,
        parameters=[LEAD_ID],
        request=request,
        responses={
            ok: answer,
            400: BAD_BODY,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: CONFLICT,
            415: UNSUPPORTED,
        },
        examples=[*examples, *([LEAD_ANSWER] if answer is LeadDetailSerializer else [])],
    )


class LeadClaimView(SalesView):
    @_action_schema(
        "pql_leads_claim",
        "Claim a lead",
        "The acting rep takes an unowned lead. Two reps claiming at once end with one owner; "
        "the other gets 409 naming them. Claiming one's own lead again changes nothing.",
        EmptyRequestSerializer,
        examples=[CLAIMED_ELSEWHERE],
    )
    def post(self, request: Request, lead_id: int) -> Response:
        request_data(EmptyRequestSerializer, request.data)
        services.lead_claim(lead=lead_id, actor=request.user)
        return _detail(lead_id)


class LeadReleaseView(SalesView):
    @_action_schema(
        "pql_leads_release",
        "Release a lead",
        "Its owner (or a manager) hands the lead back to the queue, unowned.",
        EmptyRequestSerializer,
    )
    def post(self, request: Request, lead_id: int) -> Response:
        request_data(EmptyRequestSerializer, request.data)
        services.lead_release(lead=lead_id, actor=request.user)
        return _detail(lead_id)


class LeadStatusView(SalesView):
    @_action_schema(
        "pql_leads_status",
        "Move a lead",
        "Forward only: new → working → contacted → qualified; won, lost or disqualified close "
        "it and need a reason. The owner or a manager moves a lead; an unowned one is "
        "claimed first (409).",
        StatusRequestSerializer,
        examples=[
            OpenApiExample(
                "Won", value={"status": "won", "reason": "Signed the Team plan"}, request_only=True
            ),
            OpenApiExample(
                "Backwards",
                value={
                    "detail": "A qualified lead cannot go back to working; it can move to won, "
                    "lost, disqualified.",
                    "field": "status",
                },
                response_only=True,
                status_codes=["409"],
            ),
        ],
    )
    def post(self, request: Request, lead_id: int) -> Response:
        data = request_data(StatusRequestSerializer, request.data)
        services.lead_status_change(
            lead=lead_id, status=data["status"], reason=data.get("reason", ""), actor=request.user
        )
        return _detail(lead_id)


class LeadNoteView(SalesView):
    @_action_schema(
        "pql_leads_notes_create",
        "Add a note",
        "Any rep may add a note to any lead, open or closed.",
        NoteRequestSerializer,
        examples=[
            OpenApiExample("A note", value={"text": "Asked for SSO pricing."}, request_only=True),
            OpenApiExample(
                "The note",
                value={
                    "id": 9,
                    "kind": "note",
                    "at": "2026-11-22T10:00:00Z",
                    "actor": {"id": 5, "email": "rep@handoff.example"},
                    "data": {"text": "Asked for SSO pricing."},
                },
                response_only=True,
                status_codes=["201"],
            ),
        ],
        created=True,
    )
    def post(self, request: Request, lead_id: int) -> Response:
        data = request_data(NoteRequestSerializer, request.data)
        entry = services.lead_note_add(lead=lead_id, text=data["text"], actor=request.user)
        return Response(TimelineEntrySerializer(timeline_entry_data(entry)).data, status=201)


class LeadContactView(SalesView):
    @_action_schema(
        "pql_leads_contacts_create",
        "Log a contact",
        "The owner (or a manager) records a contact; the first one stops the SLA clock and a "
        "new or working lead becomes contacted.",
        ContactRequestSerializer,
        examples=[
            OpenApiExample(
                "A call",
                value={"channel": "call", "summary": "Talked to the CTO about seats."},
                request_only=True,
            )
        ],
        created=True,
    )
    def post(self, request: Request, lead_id: int) -> Response:
        data = request_data(ContactRequestSerializer, request.data)
        services.lead_contact_log(
            lead=lead_id,
            channel=data["channel"],
            summary=data.get("summary", ""),
            actor=request.user,
        )
        response = _detail(lead_id)
        response.status_code = 201
        return response


class LeadAssignView(SalesView):
    @_action_schema(
        "pql_leads_assign",
        "Assign a lead (managers)",
        "A sales manager gives the lead to a rep, or to nobody with `owner: null`.",
        AssignRequestSerializer,
        examples=[OpenApiExample("To a rep", value={"owner": 5}, request_only=True)],
    )
    def post(self, request: Request, lead_id: int) -> Response:
        if not services.is_manager(request.user):  # before the body: a rep learns nothing more
            raise PermissionDenied(ASSIGN_MESSAGE)
        data = request_data(AssignRequestSerializer, request.data)
        owner = None
        if data["owner"] is not None:
            owner = selectors.sales_user_get(user_id=data["owner"])
            if owner is None:
                raise NotFound(f"There is no user {data['owner']}.", field="owner")
        services.lead_assign(lead=lead_id, owner=owner, actor=request.user)
        return _detail(lead_id)
