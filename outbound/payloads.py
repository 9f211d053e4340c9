"""What an event says: the JSON ``data`` of each event type, and the Slack message of a
batch of them (Slack's incoming-webhook shape: ``text``, the notification's fallback, plus
``blocks`` of Block Kit sections and context, at most 50, mrkdwn text escaped)."""

from collections.abc import Mapping, Sequence
from datetime import datetime

from django.conf import settings
from django.urls import reverse

from outbound.models import EventType

SLACK_BLOCKS_MAX = 50
SLACK_TEXT_MAX = 3000
# A batch of more than this many items is sent as one digest message.
SLACK_DIGEST_AFTER = 3
# How many leads a digest names (the rest are counted).
SLACK_DIGEST_NAMES = 10


def site_url(path: str) -> str:
    return settings.HANDOFF_SITE_URL.rstrip("/") + path


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def lead_data(lead) -> dict:
    """A lead as endpoints receive it (``lead`` with its workspace and owner loaded)."""
    return {
        "id": lead.pk,
        "url": site_url(reverse("sales_lead", args=[lead.pk])),
        "type": lead.type,
        "status": lead.status,
        "workspace": {
            "id": lead.workspace_id,
            "name": lead.workspace.name,
            "slug": lead.workspace.slug,
        },
        "fit": lead.fit,
        "engagement": lead.engagement,
        "top_reasons": [reason["text"] for reason in lead.top_reasons],
        "owner": lead.owner.email if lead.owner else None,
        "opened_at": _iso(lead.opened_at),
        "sla_due_at": _iso(lead.sla_due_at),
        "sla_breached_at": _iso(lead.sla_breached_at),
        "closed_at": _iso(lead.closed_at),
        "close_reason": lead.close_reason,
        "won_via": lead.won_via or None,
        "mrr_at_open_cents": lead.mrr_at_open_cents,
        "mrr_change_cents": lead.mrr_change_cents,
        "currency": lead.currency,
    }


def status_change_data(change, lead) -> dict:
    return {
        "lead": lead_data(lead),
        "previous_status": str(change.before),
        "status": str(change.after),
        "reason": change.reason,
        "changed_at": _iso(change.at),
    }


def workspace_data(workspace_id: int, names: Mapping[int, tuple[str, str]]) -> dict:
    name, slug = names.get(workspace_id, ("", ""))
    return {"id": workspace_id, "name": name, "slug": slug}


# Slack ----------------------------------------------------------------------------------------


def mrkdwn_escape(text: str) -> str:
    """Slack's mrkdwn control characters as entities (a name cannot turn into a link)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int = SLACK_TEXT_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _when(value: str | None) -> str:
    if not value:
        return "—"
    moment = datetime.fromisoformat(value)
    return f"{moment:%a %d %b, %H:%M} UTC"


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text)}}


def _context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(text)}]}


def _headline(event_type: str, lead: Mapping) -> tuple[str, str]:
    """(plain fallback, mrkdwn title) for one lead event."""
    name = lead["workspace"]["name"]
    kind = lead["type"].replace("_", " ")
    scores = f"engagement {lead['engagement']}, fit {lead['fit']}"
    link = f"<{lead['url']}|{mrkdwn_escape(name)}>"
    if event_type == EventType.LEAD_SLA_BREACHED:
        return (
            f"First contact overdue: {name} ({kind} lead, {scores})",
            f"*First contact overdue:* {link} · {kind} lead · {scores}",
        )
    return (
        f"New PQL: {name} ({kind} lead, {scores})",
        f"*New PQL:* {link} · {kind} lead · {scores}",
    )


def _detail_blocks(event_type: str, lead: Mapping) -> list[dict]:
    _, title = _headline(event_type, lead)
    reasons = "\n".join(f"• {mrkdwn_escape(text)}" for text in lead["top_reasons"][:3])
    blocks = [_section(title + (f"\n{reasons}" if reasons else ""))]
    owner = mrkdwn_escape(lead["owner"]) if lead["owner"] else "nobody yet"
    if event_type == EventType.LEAD_SLA_BREACHED:
        facts = f"Was due {_when(lead['sla_due_at'])} · owner: {owner}"
    else:
        facts = f"First contact due {_when(lead['sla_due_at'])} · owner: {owner}"
    blocks.append(_context(facts))
    return blocks


def slack_message(items: Sequence[tuple[str, Mapping]]) -> dict:
    """One Slack message for a batch of ``(event type, event data)`` items, oldest first: each
    lead in full for a few, a digest (counts, the top leads by engagement, a link to the
    queue) for more than ``SLACK_DIGEST_AFTER``."""
    leads = [(kind, data["lead"]) for kind, data in items]
    if len(leads) <= SLACK_DIGEST_AFTER:
        blocks = []
        for kind, lead in leads:
            blocks += _detail_blocks(kind, lead)
        text = "; ".join(_headline(kind, lead)[0] for kind, lead in leads)
        return {"text": _cut(text), "blocks": blocks[:SLACK_BLOCKS_MAX]}
    opened = sum(1 for kind, _ in leads if kind == EventType.LEAD_OPENED)
    breached = len(leads) - opened
    counts = []
    if opened:
        counts.append(f"{opened} new PQL{'s' if opened != 1 else ''}")
    if breached:
        counts.append(f"{breached} first contact{'s' if breached != 1 else ''} overdue")
    summary = " and ".join(counts)
    summary = summary[:1].upper() + summary[1:]
    ranked = sorted(leads, key=lambda item: (-item[1]["engagement"], -item[1]["fit"]))
    lines = []
    for kind, lead in ranked[:SLACK_DIGEST_NAMES]:
        label = "overdue" if kind == EventType.LEAD_SLA_BREACHED else "new"
        lines.append(
            f"• <{lead['url']}|{mrkdwn_escape(lead['workspace']['name'])}> ({label}) · "
            f"{lead['type'].replace('_', ' ')} · engagement {lead['engagement']}, "
            f"fit {lead['fit']}"
        )
    more = len(ranked) - SLACK_DIGEST_NAMES
    queue = site_url(reverse("sales_queue"))
    footer = f"<{queue}|Open the sales queue>" + (f" · and {more} more" if more > 0 else "")
    return {
        "text": summary,
        "blocks": [
            _section(f"*{summary}*"),
            _section("\n".join(lines)),
            _context(footer),
        ],
    }
