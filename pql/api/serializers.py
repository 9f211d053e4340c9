"""What the leads API answers and accepts.

Answers are built from the queue's rows (``pql.selectors.queue_rows``), never by reading
related rows one lead at a time. Request bodies accept only the fields an action takes: a
field a client must never set (the scores, the workspace, the status outside its action,
the owner outside ``assign``) is refused with 400 naming it, and nothing changes.
"""

from django.urls import reverse
from rest_framework import serializers

from accounts.errors import ApplicationError
from pql.models import LeadActivity, LeadStatus, LeadType
from pql.selectors import SLA_STATES, LeadDetail, QueueRow
from pql.services import CONTACT_CHANNELS
from pql.services.queue import NOTE_MAX, REASON_MAX
from usage.api.views import ClosedSerializer

LEAD_STATUSES = list(LeadStatus.values)
# What a client may move a lead to (it expires by itself).
MOVE_STATUSES = [s for s in LeadStatus.values if s != LeadStatus.EXPIRED]
# Fields of a lead no request body sets; named in the refusal.
READ_ONLY = (
    "id",
    "workspace",
    "type",
    "fit",
    "engagement",
    "score",
    "trend",
    "reasons",
    "plan",
    "seats_used",
    "opened_at",
    "sla_due_at",
    "sla_state",
    "first_contact_at",
    "closed_at",
    "won_via",
    "timeline",
)


class ClosedRequestSerializer(ClosedSerializer):
    # A request body that refuses fields it does not take, named: ``additionalProperties:
    # false`` in the schema (ClosedSerializer's extension matches subclasses). A comment, not
    # a docstring: subclasses' docstrings are their descriptions in the schema.

    def to_internal_value(self, data):
        if isinstance(data, dict):
            for name in data:
                if name not in self.fields:
                    if name in READ_ONLY or name in ("owner", "status"):
                        message = f"{name} cannot be set here: it is read-only on this action."
                    else:
                        message = f"{name} is not a field this action takes."
                    raise serializers.ValidationError({name: [message]})
        return super().to_internal_value(data)


class TextField(serializers.CharField):
    """Text as a JSON string: a number or a boolean is refused, not turned into text."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class IdField(serializers.IntegerField):
    """An id as a JSON integer: a string or a boolean is refused."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


def request_data(serializer_class: type[serializers.Serializer], data: object) -> dict:
    """The validated body, or an ApplicationError (400) naming the first field at fault."""
    serializer = serializer_class(data=data)
    if serializer.is_valid():
        return serializer.validated_data
    field, messages = next(iter(serializer.errors.items()))
    message = messages[0] if isinstance(messages, list) else str(messages)
    if field == "non_field_errors":
        raise ApplicationError(f"The body must be a JSON object: {message}", field="body")
    raise ApplicationError(f"{field}: {message}", field=field)


class StatusRequestSerializer(ClosedRequestSerializer):
    """Move the lead to a status; closing it (won, lost, disqualified) takes a reason."""

    status = serializers.ChoiceField(
        MOVE_STATUSES,
        help_text="new → working → contacted → qualified, then won, lost or disqualified; "
        "statuses only move forward.",
    )
    reason = TextField(
        required=False,
        allow_blank=True,
        max_length=REASON_MAX,
        trim_whitespace=True,
        help_text="Why the lead is won, lost or disqualified (required for those).",
    )


class NoteRequestSerializer(ClosedRequestSerializer):
    """A note on the lead's timeline."""

    text = TextField(max_length=NOTE_MAX, help_text="Not empty.")


class ContactRequestSerializer(ClosedRequestSerializer):
    """A contact with the account; the first one stops the SLA clock."""

    channel = serializers.ChoiceField(CONTACT_CHANNELS)
    summary = TextField(required=False, allow_blank=True, max_length=NOTE_MAX, trim_whitespace=True)


class AssignRequestSerializer(ClosedRequestSerializer):
    """Give the lead to a rep (managers only); null leaves it unassigned."""

    owner = IdField(
        allow_null=True, min_value=1, max_value=2**31 - 1, help_text="The rep's user id."
    )


class EmptyRequestSerializer(ClosedRequestSerializer):
    """No fields: the action needs none."""


# Answers ----------------------------------------------------------------------------------------


class PersonSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()


class LeadWorkspaceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    company_domain = serializers.CharField()


class PlanSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    is_paid = serializers.BooleanField()
    seats_paid = serializers.IntegerField()
    mrr_cents = serializers.IntegerField()
    currency = serializers.CharField()
    next_plan_name = serializers.CharField(allow_null=True)
    next_plan_mrr_cents = serializers.IntegerField(allow_null=True)


class LeadSerializer(serializers.Serializer):
    """A lead as a queue row shows it. Every field is read-only."""

    id = serializers.IntegerField()
    url = serializers.CharField(help_text="This lead in the API.")
    workspace = LeadWorkspaceSerializer()
    type = serializers.ChoiceField(LeadType.values)
    status = serializers.ChoiceField(LEAD_STATUSES)
    fit = serializers.IntegerField(help_text="0-100, the workspace's current fit score.")
    engagement = serializers.IntegerField(
        help_text="0-100, the workspace's current engagement score."
    )
    trend = serializers.CharField(help_text='How engagement moved: "+18 since last week".')
    reasons = serializers.ListField(child=serializers.CharField(), help_text="Why, in words.")
    plan = PlanSerializer(allow_null=True)
    seats_used = serializers.IntegerField()
    opened_at = serializers.DateTimeField()
    age_seconds = serializers.IntegerField()
    sla_due_at = serializers.DateTimeField()
    sla_state = serializers.ChoiceField(["met", "due", *SLA_STATES])
    first_contact_at = serializers.DateTimeField(allow_null=True)
    owner = PersonSerializer(allow_null=True)
    snoozed_until = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    close_reason = serializers.CharField()


class LeadPageSerializer(serializers.Serializer):
    results = LeadSerializer(many=True)
    next = serializers.CharField(
        allow_null=True, help_text="The next page (the same query with `after`); null on the last."
    )


class ComponentSerializer(serializers.Serializer):
    signal = serializers.CharField()
    group = serializers.CharField()
    raw = serializers.JSONField(allow_null=True)
    points = serializers.IntegerField()
    text = serializers.CharField()


class ScoreSerializer(serializers.Serializer):
    fit = serializers.IntegerField()
    engagement = serializers.IntegerField()
    is_pql = serializers.BooleanField()
    computed_at = serializers.DateTimeField()
    explanation = ComponentSerializer(many=True, help_text="Each signal: its value and points.")


class TimelineEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(LeadActivity.Kind.values)
    at = serializers.DateTimeField()
    actor = PersonSerializer(allow_null=True)
    data = serializers.DictField(help_text="What the entry records: a note's text, a reason…")


class LeadDetailSerializer(LeadSerializer):
    """A lead with the workspace's current score, explained, and the lead's timeline."""

    won_via = serializers.CharField()
    score = ScoreSerializer(allow_null=True)
    timeline = TimelineEntrySerializer(many=True)


def _person(user) -> dict | None:
    return None if user is None else {"id": user.pk, "email": user.email}


def lead_data(row: QueueRow) -> dict:
    lead, plan = row.lead, row.plan
    return {
        "id": lead.pk,
        "url": reverse("api_pql_lead", args=[lead.pk]),
        "workspace": {
            "id": lead.workspace_id,
            "name": lead.workspace.name,
            "company_domain": lead.workspace.company_domain,
        },
        "type": lead.type,
        "status": lead.status,
        "fit": lead.fit,
        "engagement": lead.engagement,
        "trend": row.trend,
        "reasons": row.reasons,
        "plan": None
        if plan is None
        else {
            "code": plan.plan_code,
            "name": plan.plan_name,
            "is_paid": plan.is_paid,
            "seats_paid": plan.seats_paid,
            "mrr_cents": plan.mrr_cents,
            "currency": plan.currency,
            "next_plan_name": plan.next_plan_name,
            "next_plan_mrr_cents": plan.next_plan_mrr_cents,
        },
        "seats_used": row.seats_used,
        "opened_at": lead.opened_at,
        "age_seconds": int(row.age.total_seconds()),
        "sla_due_at": lead.sla_due_at,
        "sla_state": row.sla_state,
        "first_contact_at": lead.first_contact_at,
        "owner": _person(lead.owner),
        "snoozed_until": lead.snoozed_until,
        "closed_at": lead.closed_at,
        "close_reason": lead.close_reason,
    }


def timeline_entry_data(entry: LeadActivity) -> dict:
    return {
        "id": entry.pk,
        "kind": entry.kind,
        "at": entry.at,
        "actor": _person(entry.actor),
        "data": entry.data,
    }


def lead_detail_data(detail: LeadDetail) -> dict:
    score = detail.score
    return lead_data(detail.row) | {
        "won_via": detail.row.lead.won_via,
        "score": None
        if score is None
        else {
            "fit": score.fit,
            "engagement": score.engagement,
            "is_pql": score.is_pql,
            "computed_at": score.computed_at,
            "explanation": score.components,
        },
        "timeline": [timeline_entry_data(entry) for entry in detail.timeline],
    }
