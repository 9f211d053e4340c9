"""Usage alert thresholds, the alerts raised (one per workspace, metric, threshold and
period: a database constraint), every message sent, and who turned which kind off."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone


class Kind(models.TextChoices):
    """What a message is about. All but ``payment_failed`` are optional: a person can turn
    them off for themselves."""

    USAGE_ALERT = "usage_alert", "Usage alerts"
    TRIAL_ENDING = "trial_ending", "Trial ending"
    PAYMENT_FAILED = "payment_failed", "Payment failed"
    SUBSCRIPTION_CANCELED = "subscription_canceled", "Subscription canceled"
    SUBSCRIPTION_RESUMED = "subscription_resumed", "Subscription resumed"


# A failed payment is always sent: the workspace loses its plan if nobody acts.
REQUIRED_KINDS = frozenset({Kind.PAYMENT_FAILED})
OPTIONAL_KINDS = tuple(kind for kind in Kind if kind not in REQUIRED_KINDS)


class AlertThreshold(models.Model):
    """A share of a limit at which owners and admins are told (80 % and 100 % to start).
    Billing admins edit these in the admin."""

    percent = models.PositiveSmallIntegerField(
        unique=True,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Tell owners and admins when a workspace uses this share of a limit (1-100).",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["percent"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(percent__gte=1, percent__lte=100),
                name="notifications_threshold_percent_1_to_100",
            )
        ]

    def __str__(self) -> str:
        return f"{self.percent}% of a limit"


class UsageAlert(models.Model):
    """One crossing: the workspace used ``threshold`` % of its ``metric`` limit in the period
    starting ``period_start``. The unique constraint makes it once, whatever the number of
    concurrent or retried batches that cross it."""

    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="usage_alerts"
    )
    metric = models.CharField(max_length=50)
    threshold = models.PositiveSmallIntegerField()
    period_start = models.DateTimeField()
    used = models.BigIntegerField()
    limit = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "metric", "threshold", "period_start"],
                name="notifications_one_alert_per_crossing",
            )
        ]

    def __str__(self) -> str:
        return f"{self.metric} at {self.threshold}%"


class Notification(models.Model):
    """One message to one person, as it was sent: by e-mail or shown in the workspace's
    pages (``in_app``, until dismissed). ``cause`` says which event caused it (a Stripe
    event id, a usage alert); ``dedupe_key`` makes a replayed event send nothing again."""

    class Channel(models.TextChoices):
        EMAIL = "email", "E-mail"
        IN_APP = "in_app", "In the app"

    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="notifications"
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=30, choices=Kind.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    dedupe_key = models.CharField(max_length=200)
    cause = models.CharField(max_length=200)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    link = models.CharField(max_length=500, blank=True)
    link_label = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    dismissed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "workspace", "kind", "channel", "dedupe_key"],
                name="notifications_one_message_per_event",
            )
        ]
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="notifications_by_workspace"),
            models.Index(
                fields=["recipient", "workspace"],
                condition=models.Q(channel="in_app", dismissed_at__isnull=True),
                name="notifications_open_notices",
            ),
        ]

    def __str__(self) -> str:
        return self.subject


class OptOut(models.Model):
    """A person turned an optional kind off for one workspace: nothing of that kind is sent
    to them there, by e-mail or in the app."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_opt_outs"
    )
    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="notification_opt_outs"
    )
    kind = models.CharField(max_length=30, choices=Kind.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "workspace", "kind"], name="notifications_one_opt_out"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} turned off {self.kind}"
