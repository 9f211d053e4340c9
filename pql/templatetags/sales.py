"""Filters of the sales queue's pages: ages and timeline entries in words."""

from datetime import timedelta

from django import template
from django.utils.dateparse import parse_datetime

from pql.models import LeadActivity, LeadStatus

register = template.Library()


def _plural(n: int, one: str) -> str:
    return f"{n} {one}{'' if n == 1 else 's'}"


@register.filter
def age(value: timedelta | None) -> str:
    """How long ago, in the largest whole unit: "3 days", "5 hours", "just now"."""
    if value is None:
        return ""
    seconds = int(value.total_seconds())
    if seconds >= 86400:
        return _plural(seconds // 86400, "day")
    if seconds >= 3600:
        return _plural(seconds // 3600, "hour")
    if seconds >= 60:
        return _plural(seconds // 60, "minute")
    return "just now"


def _status(value: object) -> str:
    return LeadStatus(value).label.lower() if value in LeadStatus.values else str(value or "")


@register.filter
def activity_words(activity: LeadActivity) -> str:
    """What happened, as a sentence without its actor: "moved it from new to contacted"."""
    data = activity.data or {}
    kind = activity.kind
    Kind = LeadActivity.Kind
    if kind == Kind.CLAIMED:
        return "claimed the lead"
    if kind == Kind.RELEASED:
        return "released the lead to the queue"
    if kind == Kind.ASSIGNED:
        return f"assigned the lead to {data.get('owner') or 'nobody'}" + (
            f" (was {data['before']})" if data.get("before") else ""
        )
    if kind in (Kind.STATUS_CHANGED, Kind.WON, Kind.LOST):
        words = f"moved it from {_status(data.get('before'))} to {_status(data.get('after'))}"
        return words + (f": {data['reason']}" if data.get("reason") else "")
    if kind == Kind.CONTACT:
        summary = data.get("summary")
        return f"logged a contact by {data.get('channel', 'other')}" + (
            f": {summary}" if summary else ""
        )
    if kind == Kind.NOTE:
        return f"noted: {data.get('text', '')}"
    if kind == Kind.SNOOZED:
        until = parse_datetime(data["until"]) if data.get("until") else None
        return f"snoozed it until {until:%b %-d, %Y}" if until else "woke it up"
    if kind == Kind.OPENED:
        return "opened the lead"
    if kind == Kind.SLA_AT_RISK:
        return "warned: first contact is due soon"
    if kind == Kind.SLA_BREACHED:
        return "marked the first-contact SLA breached"
    if kind == Kind.EXPIRED:
        return "expired the lead" + (f": {data['reason']}" if data.get("reason") else "")
    return activity.get_kind_display().lower()
