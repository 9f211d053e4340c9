"""What a workspace may do: the plan catalog, per-workspace overrides, and its subscription.

Limits are data, not code: billing admins edit plans, prices, limits and features in the
admin; enforcement reads them through ``billing.selectors.workspace_entitlements``.
Money is integer minor units plus an ISO currency code.
"""

from datetime import datetime

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from accounts.models import TimeStampedModel


class Feature(models.Model):
    """A capability a plan switches on or off: SSO, audit log, priority support …"""

    key = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Plan(TimeStampedModel):
    """A plan of the catalog. Archived plans keep their subscribers (grandfathered) but leave
    the pricing page; private plans show "contact sales" instead of a self-serve price."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        ARCHIVED = "archived", "Archived"

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=255, blank=True)
    tier_rank = models.PositiveSmallIntegerField(
        help_text="Order from the cheapest (0) up; an upgrade moves to a higher rank."
    )
    is_public = models.BooleanField(
        default=True, help_text="Self-serve. Private plans are sold by sales (“contact sales”)."
    )
    is_default_free = models.BooleanField(
        default=False, help_text="New sign-ups start here. Exactly one plan can be it."
    )
    trial_days = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)

    class Meta:
        ordering = ["tier_rank", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default_free"],
                condition=models.Q(is_default_free=True),
                name="billing_plan_one_default_free",
                violation_error_message="Another plan is already the default free plan.",
            ),
            models.CheckConstraint(
                condition=~models.Q(is_default_free=True, status="archived"),
                name="billing_plan_default_free_not_archived",
                violation_error_message="The default free plan cannot be archived.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_archived(self) -> bool:
        return self.status == self.Status.ARCHIVED


currency_validator = RegexValidator(
    r"^[a-z]{3}$", "Use a three-letter ISO currency code in lower case, such as “usd”."
)


class Price(TimeStampedModel):
    """What a plan costs per interval, per seat or flat. A price's amount never changes once
    saved: to change what new customers pay, add a new price and deactivate the old one, so
    existing subscribers keep paying what they signed up for."""

    class Interval(models.TextChoices):
        MONTH = "month", "Monthly"
        YEAR = "year", "Yearly"

    class Scheme(models.TextChoices):
        PER_SEAT = "per_seat", "Per seat"
        FLAT = "flat", "Flat"

    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="prices")
    interval = models.CharField(max_length=5, choices=Interval.choices)
    amount_cents = models.BigIntegerField(validators=[MinValueValidator(0)])
    currency = models.CharField(max_length=3, validators=[currency_validator])
    scheme = models.CharField(max_length=10, choices=Scheme.choices, default=Scheme.PER_SEAT)
    stripe_price_id = models.CharField(max_length=255, blank=True)
    is_active = models.BooleanField(default=True, help_text="Offered to new subscribers.")

    class Meta:
        ordering = ["plan__tier_rank", "interval", "currency"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "interval", "currency"],
                condition=models.Q(is_active=True),
                name="billing_price_one_active_per_interval_currency",
                violation_error_message=(
                    "This plan already has an active price for that interval and currency: "
                    "deactivate it first."
                ),
            ),
            models.UniqueConstraint(
                fields=["stripe_price_id"],
                condition=~models.Q(stripe_price_id=""),
                name="billing_price_unique_stripe_id",
            ),
            models.CheckConstraint(
                condition=models.Q(amount_cents__gte=0), name="billing_price_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(currency__regex=r"^[a-z]{3}$"),
                name="billing_price_currency_iso",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan} {self.get_interval_display().lower()} {self.currency.upper()}"


class Enforcement(models.TextChoices):
    HARD = "hard", "Hard: block what exceeds the limit"
    SOFT = "soft", "Soft: allow, warn and record"


class PlanLimit(models.Model):
    """How much of a metric a plan allows. An empty limit means unlimited."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="limits")
    metric = models.ForeignKey(
        "usage.Metric", to_field="key", on_delete=models.PROTECT, related_name="+"
    )
    limit = models.BigIntegerField(
        null=True, blank=True, validators=[MinValueValidator(0)], help_text="Empty = unlimited."
    )
    enforcement = models.CharField(max_length=4, choices=Enforcement.choices, default="hard")

    class Meta:
        ordering = ["metric_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "metric"],
                name="billing_planlimit_one_per_metric",
                violation_error_message="This plan already has a limit for that metric.",
            ),
            models.CheckConstraint(
                condition=models.Q(limit__isnull=True) | models.Q(limit__gte=0),
                name="billing_planlimit_not_negative",
                violation_error_message="A limit cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        limit = "unlimited" if self.limit is None else self.limit
        return f"{self.plan.code}: {self.metric_id} ≤ {limit}"


class PlanFeature(models.Model):
    """Whether a plan includes a feature."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="features")
    feature = models.ForeignKey(Feature, to_field="key", on_delete=models.PROTECT, related_name="+")
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["feature_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "feature"],
                name="billing_planfeature_one_per_feature",
                violation_error_message="This plan already lists that feature.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan.code}: {self.feature_id} {'on' if self.enabled else 'off'}"


class WorkspaceOverride(TimeStampedModel):
    """A different limit or feature for one workspace, granted by a billing admin or a
    sales rep, with a reason and an optional expiry (how sales runs a trial of a paid
    feature). Exactly one of ``metric`` and ``feature`` is set."""

    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="overrides"
    )
    metric = models.ForeignKey(
        "usage.Metric",
        to_field="key",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    limit = models.BigIntegerField(
        null=True, blank=True, validators=[MinValueValidator(0)], help_text="Empty = unlimited."
    )
    enforcement = models.CharField(max_length=4, choices=Enforcement.choices, default="hard")
    feature = models.ForeignKey(
        Feature, to_field="key", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    enabled = models.BooleanField(default=True)
    reason = models.CharField(max_length=255)
    granted_by = models.ForeignKey(
        "accounts.User", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(metric__isnull=False, feature__isnull=True)
                    | models.Q(metric__isnull=True, feature__isnull=False)
                ),
                name="billing_override_metric_xor_feature",
                violation_error_message="Override either a limit (metric) or a feature, not both.",
            ),
            models.CheckConstraint(
                condition=models.Q(limit__isnull=True) | models.Q(limit__gte=0),
                name="billing_override_limit_not_negative",
                violation_error_message="A limit cannot be negative.",
            ),
            models.CheckConstraint(
                condition=~models.Q(reason=""),
                name="billing_override_reason_required",
                violation_error_message="Say why the override is granted.",
            ),
        ]
        indexes = [models.Index(fields=["workspace", "expires_at"])]

    def __str__(self) -> str:
        what = self.metric_id or self.feature_id
        return f"{self.workspace} · {what}"

    def is_active(self, now: datetime | None = None) -> bool:
        return self.expires_at is None or self.expires_at > (now or timezone.now())


class Subscription(TimeStampedModel):
    """The workspace's plan: one row per workspace, from sign-up (on the default free plan)
    onwards. Paid subscriptions mirror Stripe's object; Stripe owns their state."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        TRIALING = "trialing", "Trialing"
        PAST_DUE = "past_due", "Past due"
        CANCELED = "canceled", "Canceled"

    workspace = models.OneToOneField(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="subscription"
    )
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    price = models.ForeignKey(
        Price, null=True, blank=True, on_delete=models.PROTECT, related_name="subscriptions"
    )
    seats = models.PositiveIntegerField(default=1, help_text="Seats paid for (per-seat prices).")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    stripe_customer_id = models.CharField(max_length=255, blank=True)
    stripe_subscription_id = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_subscription_id"],
                condition=~models.Q(stripe_subscription_id=""),
                name="billing_subscription_unique_stripe_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.workspace} on {self.plan}"
