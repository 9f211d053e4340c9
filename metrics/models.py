"""The growth metrics' own rows: the definitions metrics tools differ on (one settings row),
and the exchange rates an admin records to show several currencies in one.

Every figure is computed from the other apps' records (ledger, usage, invitations,
cancellations, leads) when the page is read; nothing here holds a figure.
"""

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models

from billing.models import currency_validator


class ChurnCountedAt(models.TextChoices):
    PERIOD_END = "period_end", "When the subscription ends (end of the paid period)"
    CANCELLATION = "cancellation", "When the customer asks to cancel"


class MetricsSettings(models.Model):
    """How the figures are counted: one row, edited by billing admins in the admin."""

    churn_counted_at = models.CharField(
        max_length=12,
        choices=ChurnCountedAt.choices,
        default=ChurnCountedAt.PERIOD_END,
        help_text="Default: at period end, when the revenue actually stops (the ledger's date). "
        "“When the customer asks” dates a churn at its cancellation request instead.",
    )
    count_same_month_cancel = models.BooleanField(
        default=True,
        help_text="Default: yes. When off, a workspace that subscribes (or returns) and churns "
        "in the same calendar month is left out of that month's movements and counts.",
    )
    reactivation_window_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Default: empty, no limit: every return after churn is a reactivation, as "
        "the ledger records it. With a number, a return more days than that after the churn "
        "counts as new.",
    )
    trials_count_as_mrr = models.BooleanField(
        default=False,
        help_text="Default: no, trials are worth nothing until they convert (the ledger's rule). "
        "When on, MRR now adds what trialing workspaces would pay at their catalog price; "
        "past months never include trials (the ledger records revenue when a trial converts).",
    )
    reporting_currency = models.CharField(
        max_length=3,
        default="usd",
        validators=[currency_validator],
        help_text="The currency other currencies are converted into, at the rates recorded "
        "below, when the page shows all currencies together.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "metrics settings"
        verbose_name_plural = "metrics settings"
        permissions = [("view_growth", "Can read the growth metrics")]
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="metrics_settings_single")
        ]

    def __str__(self) -> str:
        return "Metrics settings"


class ExchangeRate(models.Model):
    """How much one unit of ``currency`` is worth in the reporting currency, as an admin
    recorded it. The page shows the rate and its date beside every converted figure."""

    currency = models.CharField(max_length=3, unique=True, validators=[currency_validator])
    rate = models.DecimalField(
        max_digits=18,
        decimal_places=8,
        validators=[MinValueValidator(Decimal("0.00000001"))],
        help_text="Units of the reporting currency for one unit of this currency "
        "(for example 1.08 for EUR when reporting in USD).",
    )
    recorded_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["currency"]
        constraints = [
            models.CheckConstraint(condition=models.Q(rate__gt=0), name="metrics_rate_positive"),
            models.CheckConstraint(
                condition=models.Q(currency__regex=r"^[a-z]{3}$"), name="metrics_rate_currency_iso"
            ),
        ]

    def __str__(self) -> str:
        return f"1 {self.currency.upper()} = {self.rate.normalize():f}"
