"""What a workspace did: metric definitions, metered usage events and their counters,
product events (behavioural signals) and the rule that says when a workspace is activated.

Usage is counted exactly once: each event carries an idempotency key unique per workspace,
and the counter of its (workspace, metric, period) is updated in the same transaction as
the events it counts.
"""

from datetime import UTC, datetime

from django.db import models
from django.utils import timezone


class Enforcement(models.TextChoices):
    """What happens to usage past a limit (a plan's limits say which, in billing)."""

    HARD = "hard", "Hard: block what exceeds the limit"
    SOFT = "soft", "Soft: allow, warn and record"


class Metric(models.Model):
    """Something a plan can limit and a workspace uses: seats, projects, API calls, storage."""

    class Aggregation(models.TextChoices):
        SUM = "sum", "Sum of quantities"
        COUNT = "count", "Count of events"
        MAX = "max", "Maximum value"
        LAST = "last", "Last value"

    class Reset(models.TextChoices):
        MONTHLY = "monthly", "Every month"
        NEVER = "never", "Never"

    key = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    unit = models.CharField(max_length=30, help_text="Shown after numbers: “seats”, “calls”, “MB”.")
    aggregation = models.CharField(max_length=10, choices=Aggregation.choices)
    reset_period = models.CharField(max_length=10, choices=Reset.choices)
    is_metered = models.BooleanField(
        default=True,
        help_text="Reported through the usage API. Seats and projects are counted from the "
        "product's own rows instead.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def resets_monthly(self) -> bool:
        return self.reset_period == self.Reset.MONTHLY

    @property
    def is_additive(self) -> bool:
        """Sum and count add up over a period; max and last are gauges."""
        return self.aggregation in (self.Aggregation.SUM, self.Aggregation.COUNT)

    def period_start(self, when: datetime) -> datetime:
        """Start (UTC) of the counting period that contains ``when``: the first of the month
        for monthly metrics, the epoch for metrics that never reset."""
        if self.resets_monthly:
            return when.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return EPOCH


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class UsageEvent(models.Model):
    """One metered usage report, append-only. The idempotency key is unique per workspace:
    a retried report is recognised and counted once."""

    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="usage_events"
    )
    metric = models.ForeignKey(Metric, to_field="key", on_delete=models.PROTECT, related_name="+")
    quantity = models.BigIntegerField()
    idempotency_key = models.CharField(max_length=255)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "idempotency_key"], name="usage_event_idempotent"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.metric_id} {self.quantity} ({self.idempotency_key})"


class UsageCounter(models.Model):
    """The workspace's usage of a metric in one period, kept in step with its events."""

    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="usage_counters"
    )
    metric = models.ForeignKey(Metric, to_field="key", on_delete=models.PROTECT, related_name="+")
    period_start = models.DateTimeField()
    value = models.BigIntegerField(default=0)
    last_event_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "metric", "period_start"], name="usage_counter_one_per_period"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.workspace_id} {self.metric_id} {self.period_start:%Y-%m}: {self.value}"


class UsageDaily(models.Model):
    """A day of a workspace's usage of a metric (history for charts and scoring)."""

    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="usage_days"
    )
    metric = models.ForeignKey(Metric, to_field="key", on_delete=models.PROTECT, related_name="+")
    day = models.DateField()
    value = models.BigIntegerField(default=0)
    events = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "metric", "day"], name="usage_daily_one_per_day"
            ),
        ]
        # "Every workspace, last N days" (scoring) reads by day first.
        indexes = [models.Index(fields=["day", "workspace"], name="usage_daily_day_idx")]

    def __str__(self) -> str:
        return f"{self.workspace_id} {self.metric_id} {self.day}: {self.value}"


class ProductEvent(models.Model):
    """A named thing that happened in the product (a behavioural signal for PQL scoring):
    ``paywall_hit``, ``project_created``, ``teammate_invited`` …"""

    PAYWALL_HIT = "paywall_hit"

    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="product_events"
    )
    name = models.SlugField(max_length=80)
    user_email = models.EmailField(max_length=254, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    # Set for events sent through the API (unique per workspace), and for the product's
    # own events recorded once per period (a feature's paywall hit: once per user, feature
    # and day); empty for the other events the product records itself.
    idempotency_key = models.CharField(max_length=255, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "name", "occurred_at"]),
            models.Index(fields=["workspace", "occurred_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="usage_productevent_idempotent",
            ),
        ]
        ordering = ["-occurred_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} in {self.workspace_id} at {self.occurred_at:%Y-%m-%d %H:%M}"


class ProductEventDaily(models.Model):
    """A day (UTC) of a workspace's product events of one name: how many, and how many
    distinct people sent them (events without a person count none). Written in the same
    transaction as the events (``usage.services``), so scoring never scans raw events."""

    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="product_event_days"
    )
    name = models.SlugField(max_length=80)
    day = models.DateField()
    events = models.PositiveIntegerField(default=0)
    people = models.PositiveIntegerField(default=0)
    last_at = models.DateTimeField(help_text="When the day's latest event of the name happened.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "name", "day"], name="usage_producteventdaily_one_per_day"
            ),
        ]
        indexes = [models.Index(fields=["day", "workspace"], name="usage_pedaily_day_idx")]

    def __str__(self) -> str:
        return f"{self.workspace_id} {self.name} {self.day}: {self.events}"


class ActivePersonDay(models.Model):
    """A person (lower-cased e-mail address) who sent a product event of ``name`` in a
    workspace on a day (UTC): inserted once (ON CONFLICT DO NOTHING), which keeps the
    distinct-people counts of ``ProductEventDaily`` exact and answers "distinct people
    active in the last N days"."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    name = models.SlugField(max_length=80)
    day = models.DateField()
    person = models.CharField(max_length=254)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "day", "name", "person"],
                name="usage_activepersonday_once",
            ),
        ]
        indexes = [models.Index(fields=["day", "workspace"], name="usage_personday_day_idx")]

    def __str__(self) -> str:
        return f"{self.workspace_id} {self.person} {self.name} {self.day}"


class ActivationRule(models.Model):
    """What it means for a workspace to reach value: the first time it completes one
    onboarding step, or sends one named product event. One row; billing admins edit it."""

    class Kind(models.TextChoices):
        CHECKLIST_STEP = "checklist_step", "An onboarding checklist step"
        PRODUCT_EVENT = "product_event", "A product event"

    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.CHECKLIST_STEP)
    value = models.SlugField(
        max_length=80,
        default="first_usage_event",
        help_text="The checklist step key (invite_teammate, create_api_key, first_usage_event) "
        "or the product event name (for example project_created).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="usage_activationrule_single")
        ]

    def __str__(self) -> str:
        return f"Activation: {self.get_kind_display().lower()} “{self.value}”"
