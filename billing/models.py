"""What a workspace may do: the plan catalog, per-workspace overrides, and its subscription.

Limits are data, not code: billing admins edit plans, prices, limits and features in the
admin; enforcement reads them through ``billing.entitlements.workspace_entitlements``.
Money is integer minor units plus an ISO currency code.
"""

from datetime import datetime

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from accounts.models import TimeStampedModel
from usage.models import Enforcement


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

    def amount_for(self, seats: int) -> int:
        """What one interval costs for ``seats`` seats (a flat price ignores them)."""
        return self.amount_cents * (seats if self.scheme == self.Scheme.PER_SEAT else 1)


class PlanLimit(models.Model):
    """How much of a metric a plan allows. An empty limit means unlimited."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="limits")
    metric = models.ForeignKey(
        "usage.Metric", to_field="key", on_delete=models.PROTECT, related_name="+"
    )
    limit = models.BigIntegerField(
        null=True, blank=True, validators=[MinValueValidator(0)], help_text="Empty = unlimited."
    )
    enforcement = models.CharField(
        max_length=4, choices=Enforcement.choices, default=Enforcement.HARD
    )

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
    enforcement = models.CharField(
        max_length=4, choices=Enforcement.choices, default=Enforcement.HARD
    )
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
    onwards. Paid subscriptions mirror Stripe's object; Stripe owns their state, written
    here only by webhook handlers and reconciliation."""

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
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    canceled_at = models.DateTimeField(null=True, blank=True)
    trial_end = models.DateTimeField(null=True, blank=True)
    past_due_since = models.DateTimeField(null=True, blank=True)
    mrr_cents = models.BigIntegerField(
        default=0, help_text="Monthly recurring revenue now, in minor units of ``currency``."
    )
    currency = models.CharField(max_length=3, default="usd", validators=[currency_validator])
    billed_mrr_cents = models.BigIntegerField(
        default=0,
        help_text=(
            "What the mirrored Stripe state bills per month (every item, normalised to a "
            "month, net of discounts), in minor units of ``currency``."
        ),
    )
    # The ``created`` time of the newest Stripe event applied: an older event never
    # overwrites newer state.
    stripe_watermark = models.DateTimeField(null=True, blank=True)
    # When a reconciliation run (its ``started_at``) last found this subscription in
    # Stripe's list: the paid ones it did not find are fetched one by one at the run's end.
    stripe_listed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_subscription_id"],
                condition=~models.Q(stripe_subscription_id=""),
                name="billing_subscription_unique_stripe_id",
            ),
            models.CheckConstraint(
                condition=models.Q(mrr_cents__gte=0), name="billing_subscription_mrr_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.workspace} on {self.plan}"

    @property
    def is_paid(self) -> bool:
        return bool(self.stripe_subscription_id) and self.status != self.Status.CANCELED


class StripeEvent(models.Model):
    """Every verified webhook received, stored once (unique Stripe event id) before it is
    acknowledged, then processed by a Celery task."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSED = "processed", "Processed"
        SKIPPED = "skipped", "Skipped (older than the state applied, or not handled)"
        FAILED = "failed", "Failed"

    stripe_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    payload = models.JSONField()
    created = models.DateTimeField(help_text="When Stripe says the event happened.")
    received_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name = "Stripe event"

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_id}"

    @property
    def object(self) -> dict:
        return self.payload.get("data", {}).get("object", {})


class StripeReconcileRun(models.Model):
    """One reconciliation with Stripe, done in bounded chunks (``billing.stripe.reconcile``):
    where it is (``phase`` and ``cursor``, the last object done) so a run that dies is
    continued by the next chunk from its last page, and who works on it (a lease: one chunk
    at a time, taken over once it has expired)."""

    class Phase(models.TextChoices):
        EVENTS = "events", "Storing the events Stripe sent that never arrived"
        PENDING = "pending", "Processing the events still pending"
        SUBSCRIPTIONS = "subscriptions", "Comparing Stripe's subscriptions with the mirror"
        MISSING = "missing", "Fetching the paid subscriptions Stripe's list did not show"
        DONE = "done", "Done"

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    open = models.BooleanField(default=True)
    recover_since = models.DateTimeField(
        help_text="Events created since then are recovered from Stripe."
    )
    phase = models.CharField(max_length=20, choices=Phase.choices, default=Phase.EVENTS)
    cursor = models.CharField(max_length=255, blank=True)
    pages = models.PositiveIntegerField(default=0, help_text="Pages done so far.")
    changes = models.PositiveIntegerField(default=0, help_text="Changes made so far.")
    leased_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["open"],
                condition=models.Q(open=True),
                name="billing_one_open_stripe_reconcile_run",
            ),
        ]

    def __str__(self) -> str:
        return f"reconciliation of {self.started_at:%Y-%m-%d %H:%M}, {self.phase}"


class StripeDiscount(models.Model):
    """A discount Stripe applied to a subscription, with its coupon, as a fetch of the
    subscription returned it expanded: events name a subscription's discounts by id only,
    and MRR is net of them."""

    stripe_id = models.CharField(max_length=255, unique=True)
    data = models.JSONField(help_text="The discount object, its coupon expanded.")
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "Stripe discount"

    def __str__(self) -> str:
        return self.stripe_id


class RevenueState(models.Model):
    """What one Stripe subscription of a workspace was worth at one moment, as one event
    (or a reconciliation) told: the points the revenue ledger is computed from. The
    workspace's MRR history is these points in time order, whatever order they arrived in
    (``billing.ledger``)."""

    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.PROTECT, related_name="revenue_states"
    )
    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, related_name="revenue_states"
    )
    stripe_subscription_id = models.CharField(max_length=255)
    stripe_started_at = models.DateTimeField(
        help_text="When the Stripe subscription was created: the newer live one is mirrored."
    )
    at = models.DateTimeField(help_text="When Stripe says the state held (the event's time).")
    order_key = models.CharField(
        max_length=255,
        blank=True,
        help_text="Orders states of the same second (Stripe's clock has one-second steps).",
    )
    stripe_event = models.OneToOneField(
        StripeEvent,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="revenue_state",
        help_text="The event whose subscription object this is (empty for reconciliation).",
    )
    provisional = models.BooleanField(
        default=False,
        help_text=(
            "Fetched from Stripe for an event that carries no subscription (a checkout, an "
            "invoice): it counts only until the subscription's own events arrive."
        ),
    )
    live = models.BooleanField(help_text="Active, trialing or past due.")
    mrr_cents = models.BigIntegerField(validators=[MinValueValidator(0)])
    currency = models.CharField(max_length=3, validators=[currency_validator])
    plan_code = models.CharField(max_length=50, blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "order_key", "id"]
        indexes = [models.Index(fields=["workspace", "at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(mrr_cents__gte=0), name="billing_revenuestate_mrr_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stripe_subscription_id} at {self.at:%Y-%m-%d %H:%M:%S}: {self.mrr_cents}"


class RevenueMovement(models.Model):
    """One change of a workspace's MRR, append-only. For every workspace the sum of its
    movements equals its current MRR.

    A movement is placed at the time of the state change it records (``state``). An event
    that arrives late changes what the states after it meant: the ledger then appends
    corrections at those states' times (``corrects`` names the movement corrected), so the
    sums by month and kind are those of in-order delivery."""

    class Kind(models.TextChoices):
        NEW = "new", "New"
        EXPANSION = "expansion", "Expansion"
        CONTRACTION = "contraction", "Contraction"
        CHURN = "churn", "Churn"
        REACTIVATION = "reactivation", "Reactivation"

    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.PROTECT, related_name="revenue_movements"
    )
    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, related_name="revenue_movements"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    mrr_delta_cents = models.BigIntegerField()
    mrr_after_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3, validators=[currency_validator])
    occurred_at = models.DateTimeField(help_text="When Stripe says the change happened.")
    stripe_event = models.OneToOneField(
        StripeEvent,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="revenue_movement",
        help_text="The event that caused it (empty when reconciliation repaired drift).",
    )
    plan_code = models.CharField(max_length=50, blank=True)
    stripe_subscription_id = models.CharField(
        max_length=255, blank=True, help_text="The Stripe subscription the revenue is on."
    )
    state = models.ForeignKey(
        RevenueState,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="movements",
        help_text="The state change it records (placed at that state's time).",
    )
    corrects = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="corrections",
        help_text="The movement this one corrects, for a correction a late event made.",
    )
    note = models.CharField(max_length=255, blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["occurred_at", "id"]
        indexes = [models.Index(fields=["workspace", "occurred_at"])]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(mrr_delta_cents=0), name="billing_movement_not_zero"
            ),
            models.CheckConstraint(
                condition=models.Q(mrr_after_cents__gte=0),
                name="billing_movement_after_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.workspace_id} {self.kind} {self.mrr_delta_cents:+} {self.currency}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValueError("Revenue movements are append-only: record a new movement.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Revenue movements are append-only.")


class Invoice(models.Model):
    """An invoice mirrored from Stripe, for the workspace's invoices list."""

    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="invoices"
    )
    stripe_id = models.CharField(max_length=255, unique=True)
    number = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=20)
    amount_due_cents = models.BigIntegerField(default=0)
    amount_paid_cents = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, validators=[currency_validator])
    hosted_invoice_url = models.URLField(max_length=1000, blank=True)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField()

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return self.number or self.stripe_id


class Cancellation(models.Model):
    """Why a workspace cancelled (kept for churn analysis), and whether it came back."""

    class Reason(models.TextChoices):
        TOO_EXPENSIVE = "too_expensive", "Too expensive"
        MISSING_FEATURES = "missing_features", "Missing features"
        SWITCHED_SERVICE = "switched_service", "Switched to another service"
        UNUSED = "unused", "Not using it enough"
        TOO_COMPLEX = "too_complex", "Too complex"
        LOW_QUALITY = "low_quality", "Quality was not good enough"
        CUSTOMER_SERVICE = "customer_service", "Customer service"
        OTHER = "other", "Other"

    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="cancellations"
    )
    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="cancellations"
    )
    reason = models.CharField(max_length=20, choices=Reason.choices)
    comment = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        "accounts.User", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    resumed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        indexes = [
            # The metrics' "newest request not resumed before this churn", one index probe.
            models.Index(
                fields=["workspace", "requested_at"],
                condition=models.Q(resumed_at__isnull=True),
                name="billing_cancel_open_by_ws",
            )
        ]

    def __str__(self) -> str:
        return f"{self.workspace_id}: {self.reason}"


class BillingSettings(models.Model):
    """Settings billing admins edit: one row."""

    grace_period_days = models.PositiveSmallIntegerField(
        default=14,
        help_text="How long a workspace whose payment failed keeps its paid plan's limits.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "billing settings"
        verbose_name_plural = "billing settings"
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="billing_settings_single")
        ]

    def __str__(self) -> str:
        return "Billing settings"

    @classmethod
    def load(cls) -> "BillingSettings":
        """The row, or (before a billing admin first saves it) the defaults, unsaved: reading
        the settings never writes them."""
        return cls.objects.filter(pk=1).first() or cls(pk=1)


class LocalStripeObject(models.Model):
    """Stripe's side of the offline local gateway (``billing.stripe.local``): customers,
    checkout sessions, subscriptions, invoices and events in exactly Stripe's JSON shapes,
    as Stripe would hold them. Never part of the mirror: the mirror learns about these
    objects only from the signed webhooks the local gateway posts."""

    stripe_id = models.CharField(max_length=255, unique=True)
    object = models.CharField(max_length=50, help_text="Stripe's object type: “subscription” …")
    data = models.JSONField(help_text="The object as Stripe's API would return it.")
    # What Stripe keeps about an object but leaves out of its JSON: a checkout session's line
    # items, a customer's test card and simulated clock.
    private = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["object", "created"])]
        verbose_name = "local Stripe object"

    def __str__(self) -> str:
        return self.stripe_id
