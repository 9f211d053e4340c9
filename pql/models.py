"""Scoring models (versioned signals and the PQL rule), scores with their explanation and
history, leads (one open lead per workspace) with their timeline, scoring runs, and the
sales queue's reps, saved views and settings."""

from datetime import time
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from accounts.models import TimeStampedModel, validate_time_zone
from pql import scoring

PERCENT = [MinValueValidator(0), MaxValueValidator(100)]


class ScoringModel(TimeStampedModel):
    """One version of the scoring model: its signals, the rule that makes a PQL, and how
    leads are opened and expired.

    A published version is never changed: editing it makes a new draft version, which a
    billing admin publishes (the previous one is then retired). Exactly one version is
    published at a time; every score and lead records the version that produced it.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        RETIRED = "retired", "Retired"

    name = models.CharField(max_length=100, default="Default")
    version = models.PositiveIntegerField(unique=True, editable=False)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.DRAFT, editable=False
    )
    published_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    derived_from = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        help_text="The version this one was edited from.",
    )
    engagement_min = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=PERCENT,
        help_text="A PQL needs at least this engagement score (empty: not required).",
    )
    fit_min = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=PERCENT,
        help_text="A PQL needs at least this fit score (empty: not required).",
    )
    daily_activity_cap = models.PositiveSmallIntegerField(
        default=5,
        validators=[MinValueValidator(1)],
        help_text="Each activity counts at most this many times a day per person.",
    )
    decay_after_days = models.PositiveSmallIntegerField(
        default=7, help_text="Engagement decays after this many idle days…"
    )
    decay_half_life_days = models.PositiveSmallIntegerField(
        default=7,
        validators=[MinValueValidator(1)],
        help_text="…halving every this many idle days beyond.",
    )
    expire_below_days = models.PositiveSmallIntegerField(
        default=14,
        validators=[MinValueValidator(1)],
        help_text="An open lead expires once its workspace has not qualified for this many days.",
    )
    expire_inactive_days = models.PositiveSmallIntegerField(
        default=21,
        validators=[MinValueValidator(1)],
        help_text="An open lead expires once its workspace has been idle this many days.",
    )

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=Q(status="published"),
                name="pql_one_published_scoring_model",
            ),
            models.CheckConstraint(
                condition=Q(engagement_min__isnull=False) | Q(fit_min__isnull=False),
                name="pql_scoring_model_rule_requires_a_score",
            ),
            models.CheckConstraint(
                condition=Q(status="published", published_at__isnull=False)
                | ~Q(status="published"),
                name="pql_scoring_model_published_has_date",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.get_status_display().lower()})"

    def clean(self) -> None:
        if self.engagement_min is None and self.fit_min is None:
            raise ValidationError(
                "The PQL rule needs a minimum engagement, a minimum fit, or both.",
                code="rule_empty",
            )

    def config(self) -> scoring.ModelConfig:
        """This version as the scoring math needs it (one query for the signals)."""
        return scoring.ModelConfig(
            version=self.version,
            signals=tuple(signal.config() for signal in self.signals.all()),
            engagement_min=self.engagement_min,
            fit_min=self.fit_min,
            decay_after_days=self.decay_after_days,
            decay_half_life_days=self.decay_half_life_days,
        )


def validate_bands(bands: object, *, kind: str) -> list[list]:
    """Point bands as ``[[threshold, points], …]``: whole points from 0 to 100; for a number
    signal, numeric thresholds in ascending order; for a category signal, distinct category
    names. Raises ValidationError naming what is wrong."""
    if not isinstance(bands, list) or not bands:
        raise ValidationError("Bands are a non-empty list of [threshold, points] pairs.")
    seen: list = []
    for band in bands:
        if not (isinstance(band, list | tuple) and len(band) == 2):
            raise ValidationError(f"{band!r} is not a [threshold, points] pair.")
        threshold, points = band
        if isinstance(points, bool) or not isinstance(points, int) or not 0 <= points <= 100:
            raise ValidationError(f"Points {points!r} are not a whole number from 0 to 100.")
        if kind == "category":
            if not isinstance(threshold, str) or not threshold:
                raise ValidationError(f"{threshold!r} is not a category name.")
            if threshold in seen:
                raise ValidationError(f"Category {threshold!r} is listed twice.")
        else:
            if isinstance(threshold, bool) or not isinstance(threshold, int | float):
                raise ValidationError(f"Threshold {threshold!r} is not a number.")
            if seen and threshold <= seen[-1]:
                raise ValidationError("Thresholds must be in ascending order, each once.")
        seen.append(threshold)
    return [list(band) for band in bands]


class Signal(models.Model):
    """A signal of one scoring model version, with its points: a weight (points per unit,
    at most ``max_points``) or point bands. Its group comes from the signal registry."""

    model = models.ForeignKey(ScoringModel, on_delete=models.CASCADE, related_name="signals")
    key = models.CharField(
        max_length=40, choices=[(spec.key, spec.label) for spec in scoring.SIGNALS.values()]
    )
    group = models.CharField(
        max_length=10,
        choices=[(scoring.FIT, "Fit"), (scoring.ENGAGEMENT, "Engagement")],
        editable=False,
    )
    weight = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text="Points per unit of the raw value…",
    )
    max_points = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=PERCENT, help_text="…at most this many."
    )
    bands = models.JSONField(
        null=True,
        blank=True,
        help_text="Or point bands: [[threshold, points], …], e.g. [[50, 10], [80, 20]]; for a "
        'category signal, [["company", 30], ["free_mail", 0]].',
    )

    class Meta:
        ordering = ["model", "id"]
        constraints = [
            models.UniqueConstraint(fields=["model", "key"], name="pql_signal_once_per_model"),
            models.CheckConstraint(
                condition=(
                    Q(weight__isnull=False, max_points__isnull=False, bands__isnull=True)
                    | Q(weight__isnull=True, max_points__isnull=True, bands__isnull=False)
                ),
                name="pql_signal_weight_or_bands",
            ),
        ]

    def __str__(self) -> str:
        return self.key

    def save(self, *args, **kwargs) -> None:
        if self.key in scoring.SIGNALS:
            self.group = scoring.SIGNALS[self.key].group
        super().save(*args, **kwargs)

    def clean(self) -> None:
        spec = scoring.SIGNALS.get(self.key)
        if spec is None:
            return  # the field's choices name the problem
        self.group = spec.group
        has_weight = self.weight is not None or self.max_points is not None
        if has_weight == (self.bands is not None):
            raise ValidationError(
                "Give either a weight with its maximum points, or point bands — one of them."
            )
        if self.bands is not None:
            try:
                self.bands = validate_bands(self.bands, kind=spec.kind)
            except ValidationError as error:
                raise ValidationError({"bands": error.messages}) from error
            return
        if spec.kind == "category":
            raise ValidationError(
                {"bands": f"{spec.label} is a category: give it point bands, not a weight."}
            )
        if self.weight is None or self.max_points is None:
            raise ValidationError("A weight needs its maximum points, and the other way round.")

    def config(self) -> scoring.SignalConfig:
        return scoring.SignalConfig(
            key=self.key,
            weight=self.weight,
            max_points=self.max_points,
            bands=None if self.bands is None else tuple(tuple(band) for band in self.bands),
        )


class ComponentsField(models.JSONField):
    """A score's components, read and written as ``[{signal, group, raw, points, text}, …]``
    and stored compactly as ``[[signal, raw, points, text], …]`` (a run writes sixteen for
    every workspace; the group follows from the signal)."""

    def from_db_value(self, value, expression, connection):
        value = super().from_db_value(value, expression, connection)
        if isinstance(value, list):
            return [scoring.component_expand(component) for component in value]
        return value

    def get_prep_value(self, value):
        if isinstance(value, list):
            value = [scoring.component_compact(component) for component in value]
        return super().get_prep_value(value)


class LeadType(models.TextChoices):
    UPGRADE = scoring.UPGRADE, "Upgrade"
    EXPANSION = scoring.EXPANSION, "Expansion"


class ScoringRun(models.Model):
    """One run of the scoring job: the version and ``now`` it scores with, and its chunks.

    Each chunk reports itself done once (``scoring_run_chunk_done``; a redelivered chunk
    counts once); the one that completes the count finishes the run. A run left running by
    a killed worker is marked failed (``scoring_runs_abandon``) and repaired by the next one:
    it rescores every workspace, and scores and the day's snapshot are upserts."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Failed"

    model = models.ForeignKey(ScoringModel, on_delete=models.PROTECT, related_name="runs")
    now = models.DateTimeField(help_text="The time every score of this run is computed at.")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    chunk_count = models.PositiveIntegerField(default=1)
    chunks_done = models.PositiveIntegerField(default=0)
    done_chunks = models.JSONField(
        default=list, blank=True, help_text="The numbers of the chunks done (a retry counts once)."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(chunks_done__lte=models.F("chunk_count")),
                name="pql_run_chunks_done_within_count",
            ),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} ({self.status}, {self.chunks_done}/{self.chunk_count})"


class Score(models.Model):
    """A workspace's current score: fit and engagement kept apart, whether it is a PQL and
    of which kind, and the components that explain it."""

    class Type(models.TextChoices):
        UPGRADE = scoring.UPGRADE, "Upgrade"
        EXPANSION = scoring.EXPANSION, "Expansion"
        NONE = scoring.NONE, "None"

    workspace = models.OneToOneField(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="pql_score"
    )
    model = models.ForeignKey(ScoringModel, on_delete=models.PROTECT, related_name="+")
    fit = models.PositiveSmallIntegerField(validators=PERCENT)
    engagement = models.PositiveSmallIntegerField(validators=PERCENT)
    is_pql = models.BooleanField(default=False)
    lead_type = models.CharField(max_length=10, choices=Type.choices, default=Type.NONE)
    components = ComponentsField(default=list, help_text="[{signal, group, raw, points, text}, …]")
    computed_at = models.DateTimeField()
    run = models.ForeignKey(
        ScoringRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-engagement", "-fit", "workspace_id"]
        indexes = [models.Index(fields=["-engagement", "-fit"], name="pql_score_rank")]

    def __str__(self) -> str:
        return f"fit {self.fit}, engagement {self.engagement}"


class ScoreSnapshot(models.Model):
    """A workspace's score on a day (the day's last run wins), for "how it moved" and for
    expiring leads. Pruned by ``score_history_prune``: daily for a while, then weekly."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    fit = models.PositiveSmallIntegerField()
    engagement = models.PositiveSmallIntegerField()
    is_pql = models.BooleanField(default=False)
    model = models.ForeignKey(ScoringModel, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["workspace_id", "-day"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "day"], name="pql_snapshot_one_per_workspace_day"
            ),
        ]
        # "every workspace, a date" (history at a date, backtesting, expiry over a pk range)
        indexes = [models.Index(fields=["day", "workspace"], name="pql_snapshot_day")]

    def __str__(self) -> str:
        return f"{self.day}: fit {self.fit}, engagement {self.engagement}"


class LeadStatus(models.TextChoices):
    NEW = "new", "New"
    WORKING = "working", "Working"
    CONTACTED = "contacted", "Contacted"
    QUALIFIED = "qualified", "Qualified"
    WON = "won", "Won"
    LOST = "lost", "Lost"
    DISQUALIFIED = "disqualified", "Disqualified"
    EXPIRED = "expired", "Expired"


# A lead is open until it is won, lost, disqualified or expired.
OPEN_LEAD_STATUSES = (
    LeadStatus.NEW,
    LeadStatus.WORKING,
    LeadStatus.CONTACTED,
    LeadStatus.QUALIFIED,
)


class Lead(models.Model):
    """A product-qualified lead: a workspace handed to sales, from opening to its close.

    At most one lead per workspace is open (the database holds it)."""

    Status = LeadStatus

    class WonVia(models.TextChoices):
        SELF_SERVE = "self_serve", "Self-serve upgrade"
        SALES = "sales", "Sales"

    OPEN_STATUSES = OPEN_LEAD_STATUSES

    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.PROTECT, related_name="pql_leads"
    )
    type = models.CharField(max_length=10, choices=LeadType.choices)
    status = models.CharField(max_length=15, choices=LeadStatus.choices, default=LeadStatus.NEW)
    model = models.ForeignKey(
        ScoringModel,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The scoring model version that opened the lead.",
    )
    fit_at_open = models.PositiveSmallIntegerField()
    engagement_at_open = models.PositiveSmallIntegerField()
    top_reasons = models.JSONField(default=list, help_text="The top components at opening.")
    # The signal keys of ``top_reasons`` between commas (",usage_share,seats_share,"): the
    # queue filters on them the same way on PostgreSQL and SQLite.
    reason_signals = models.CharField(max_length=300, blank=True, editable=False)
    opened_at = models.DateTimeField()
    sla_due_at = models.DateTimeField()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="pql_leads",
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.CharField(max_length=255, blank=True)
    won_via = models.CharField(max_length=10, choices=WonVia.choices, blank=True)
    mrr_at_open_cents = models.BigIntegerField(default=0)
    mrr_change_cents = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, default="usd")
    # The workspace's current scores while the lead is open (the scoring job keeps them), so
    # the queue sorts and filters on the lead's own row.
    fit = models.PositiveSmallIntegerField(default=0)
    engagement = models.PositiveSmallIntegerField(default=0)
    first_contact_at = models.DateTimeField(
        null=True, blank=True, help_text="The first contact logged: it stops the SLA clock."
    )
    snoozed_until = models.DateTimeField(null=True, blank=True)
    sla_warned_at = models.DateTimeField(null=True, blank=True)
    sla_breached_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        permissions = [
            ("work_lead", "Can work leads in the sales queue"),
            ("manage_queue", "Can assign leads to others, act in bulk and set up the queue"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace"],
                condition=Q(status__in=OPEN_LEAD_STATUSES),
                name="pql_lead_one_open_per_workspace",
            ),
            models.CheckConstraint(
                condition=Q(status__in=OPEN_LEAD_STATUSES) | Q(closed_at__isnull=False),
                name="pql_lead_closed_has_date",
            ),
            models.CheckConstraint(
                condition=Q(status="won") | Q(won_via=""), name="pql_lead_won_via_only_if_won"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-opened_at"], name="pql_lead_status"),
            models.Index(fields=["status", "-engagement", "-id"], name="pql_lead_queue_score"),
            models.Index(fields=["status", "sla_due_at", "id"], name="pql_lead_queue_sla"),
            models.Index(fields=["owner", "status"], name="pql_lead_owner"),
            # The default queue shows the open leads (status IN (…)): an index on status
            # first cannot give them in order, so it sorted them all; these are walked in the
            # queue's order and stop at the page (bench/queue.py).
            models.Index(
                fields=["-engagement", "-id"],
                condition=Q(status__in=OPEN_LEAD_STATUSES),
                name="pql_lead_open_score",
            ),
            models.Index(
                fields=["sla_due_at", "id"],
                condition=Q(status__in=OPEN_LEAD_STATUSES),
                name="pql_lead_open_sla",
            ),
            models.Index(
                fields=["opened_at", "id"],
                condition=Q(status__in=OPEN_LEAD_STATUSES),
                name="pql_lead_open_age",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} lead #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class LeadActivity(models.Model):
    """A lead's timeline: opened, status changes, notes, and how it closed."""

    class Kind(models.TextChoices):
        OPENED = "opened", "Opened"
        STATUS_CHANGED = "status_changed", "Status changed"
        ASSIGNED = "assigned", "Assigned"
        NOTE = "note", "Note"
        CLAIMED = "claimed", "Claimed"
        RELEASED = "released", "Released"
        CONTACT = "contact", "Contact logged"
        SNOOZED = "snoozed", "Snoozed"
        SLA_AT_RISK = "sla_at_risk", "SLA at risk"
        SLA_BREACHED = "sla_breached", "SLA breached"
        EXPIRED = "expired", "Expired"
        WON = "won", "Won"
        LOST = "lost", "Lost"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="activities")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["lead_id", "at", "id"]
        verbose_name_plural = "lead activities"
        indexes = [models.Index(fields=["lead", "at"], name="pql_activity_lead_at")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.at:%Y-%m-%d %H:%M}"


class SalesRep(models.Model):
    """A sales rep's place in the queue: whether new leads may be assigned to them by round
    robin, and how many open leads they take at most."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    available = models.BooleanField(default=True)
    capacity = models.PositiveSmallIntegerField(
        default=25, help_text="Open leads this rep takes at most from round robin."
    )

    class Meta:
        ordering = ["user__email"]

    def __str__(self) -> str:
        return str(self.user)


class SavedView(models.Model):
    """A rep's named queue view: the filters, sort and search of the queue's address."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=80)
    query = models.CharField(max_length=1000, blank=True, help_text="The queue's query string.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="pql_savedview_owner_name")
        ]

    def __str__(self) -> str:
        return self.name


def _weekdays() -> list[int]:
    return [0, 1, 2, 3, 4]


class QueueSettings(models.Model):
    """How the queue runs (one row; sales managers edit it): the first-contact SLA in working
    hours, the working week, when a lead counts as at risk, and round-robin assignment."""

    sla_hours = models.PositiveSmallIntegerField(
        default=24, help_text="Working hours from a lead's opening to its first contact."
    )
    work_days = models.JSONField(
        default=_weekdays, help_text="Working days, 0 for Monday to 6 for Sunday."
    )
    day_starts = models.TimeField(default=time(9, 0))
    day_ends = models.TimeField(default=time(17, 0))
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    at_risk_hours = models.PositiveSmallIntegerField(
        default=2, help_text="Working hours before the due time from which a lead is at risk."
    )
    round_robin = models.BooleanField(
        default=False, help_text="Assign new leads in turn to the available reps with room."
    )

    class Meta:
        verbose_name_plural = "queue settings"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="pql_queuesettings_single")]

    def __str__(self) -> str:
        return "Queue settings"
