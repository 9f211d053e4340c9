"""What each message says: a subject and a plain-text body rendered from
``templates/notifications/email/<kind>_subject.txt`` and ``<kind>.txt``. The same templates
make the e-mail, the in-app notice and the staff page that shows every template rendered
with ``SAMPLES``."""

from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string

from notifications.models import Kind


def absolute(path: str) -> str:
    """A link for a message read outside the site: the path on the public address."""
    return f"{settings.HANDOFF_SITE_URL.rstrip('/')}{path}"


def message_render(*, kind: str, context: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) of a ``kind`` message: the subject on one line."""
    subject = render_to_string(f"notifications/email/{kind}_subject.txt", context)
    body = render_to_string(f"notifications/email/{kind}.txt", context)
    return " ".join(subject.split()), body.strip() + "\n"


_SAMPLE_AT = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
_BASE = {
    "workspace_name": "Northwind",
    "recipient_name": "Ada Lovelace",
    "plan_name": "Pro",
    "action_url": "https://handoff.example/w/northwind/plan/",
    "notifications_url": "https://handoff.example/w/northwind/notifications/",
    "unsubscribe_url": "https://handoff.example/notifications/unsubscribe/…/",
}
_BILLING = "https://handoff.example/w/northwind/billing/"

# Sample data for each kind: what billing admins see on the templates page.
SAMPLES: dict[str, dict[str, Any]] = {
    Kind.USAGE_ALERT: _BASE
    | {
        "plan_name": "Free",
        "metric_name": "API calls",
        "unit": "calls",
        "used": 8_012,
        "limit": 10_000,
        "threshold": 80,
        "resets_on": (_SAMPLE_AT + timedelta(days=28)).date(),
        "action_label": "Upgrade to Pro",
    },
    Kind.TRIAL_ENDING: _BASE
    | {"trial_end": _SAMPLE_AT, "action_label": "Add a payment method", "action_url": _BILLING},
    Kind.PAYMENT_FAILED: _BASE
    | {
        "grace_until": _SAMPLE_AT + timedelta(days=7),
        "action_label": "Update the card",
        "action_url": _BILLING,
    },
    Kind.SUBSCRIPTION_CANCELED: _BASE
    | {
        "ends_at": _SAMPLE_AT + timedelta(days=20),
        "action_label": "Keep the subscription",
        "action_url": _BILLING,
    },
    Kind.SUBSCRIPTION_RESUMED: _BASE | {"action_label": "See billing", "action_url": _BILLING},
}
