"""Where sales events go (webhook endpoints and the Slack channel), the events themselves as
sent, and each delivery of an event to an endpoint with its attempts."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.models import TimeStampedModel


class EventType(models.TextChoices):
    """What an endpoint may subscribe to (``ping`` is the test event a manager sends)."""

    LEAD_OPENED = "lead.opened", "Lead opened"
    LEAD_STATUS_CHANGED = "lead.status_changed", "Lead status changed"
    LEAD_WON = "lead.won", "Lead won"
    LEAD_LOST = "lead.lost", "Lead lost"
    LEAD_SLA_BREACHED = "lead.sla_breached", "First contact overdue"
    WORKSPACE_UPGRADED = "workspace.upgraded", "Workspace upgraded"
    REVENUE_EXPANSION = "revenue.expansion", "Expansion"
    REVENUE_CHURN = "revenue.churn", "Churn"
    PING = "ping", "Test event"


# The events a webhook endpoint may pick; Slack gets new PQLs and missed first contacts.
WEBHOOK_EVENT_TYPES = tuple(t for t in EventType.values if t != EventType.PING)
SLACK_EVENT_TYPES = (EventType.LEAD_OPENED, EventType.LEAD_SLA_BREACHED)


class Endpoint(TimeStampedModel):
    """A URL events are POSTed to: a webhook endpoint (signed JSON, the event types it
    picked) or the sales team's Slack incoming webhook (at most one).

    A webhook's signing secret is not stored: it is derived from ``SECRET_KEY`` and
    ``secret_salt`` (``outbound.signing``), shown once when made, and ``secret_hint`` (its
    last characters) tells secrets apart."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        SLACK = "slack", "Slack"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.WEBHOOK)
    url = models.CharField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=list)
    secret_salt = models.CharField(max_length=64, blank=True, editable=False)
    secret_hint = models.CharField(max_length=12, blank=True, editable=False)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["kind", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind"], condition=Q(kind="slack"), name="outbound_one_slack_endpoint"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} endpoint #{self.pk}"


class Event(models.Model):
    """Something that happened, as every endpoint receives it: ``body`` is the exact JSON
    sent and signed, whatever the attempt. ``public_id`` ("evt_…") is the idempotency id a
    receiver dedupes on: the same on every retry and redelivery."""

    public_id = models.CharField(max_length=40, unique=True, editable=False)
    type = models.CharField(max_length=30, choices=EventType.choices)
    body = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["created_at"], name="outbound_event_created")]

    def __str__(self) -> str:
        return f"{self.type} {self.public_id}"


class Delivery(models.Model):
    """One event on its way to one endpoint, retried with backoff until it gets a 2xx or
    gives up after about a day. A manager's redelivery is a new row for the same event."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Failed"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response = models.TextField(blank=True, help_text="The start of the last answer.")
    last_error = models.CharField(max_length=300, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    redelivery_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["event", "endpoint"],
                condition=Q(status="pending"),
                name="outbound_one_pending_delivery",
            ),
            models.CheckConstraint(
                condition=~Q(status="pending") | Q(next_attempt_at__isnull=False),
                name="outbound_pending_has_next_attempt",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=Q(status="pending"),
                name="outbound_delivery_due",
            ),
            models.Index(fields=["endpoint", "-created_at"], name="outbound_delivery_endpoint"),
        ]

    def __str__(self) -> str:
        return f"{self.event.type} to endpoint {self.endpoint_id} ({self.status})"


class DigestSent(models.Model):
    """The weekly digest of the week starting ``week_start`` went out (once a week, however
    many times the job runs)."""

    week_start = models.DateField(unique=True)
    sent_at = models.DateTimeField()
    recipients = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"digest of the week of {self.week_start}"
