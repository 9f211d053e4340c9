"""What a workspace did: metric definitions and product events.

Metered usage events and per-period counters arrive with the usage-metering work; plan
limits already refer to the metric definitions here.
"""

from django.db import models
from django.utils import timezone


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

    class Meta:
        indexes = [models.Index(fields=["workspace", "name", "occurred_at"])]
        ordering = ["-occurred_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} in {self.workspace_id} at {self.occurred_at:%Y-%m-%d %H:%M}"
