"""Reads of the growth metrics: every figure is an aggregate query over the other apps' own
records (the revenue ledger, cancellations, workspaces, invitations, active people, leads),
grouped in SQL by month, week, kind and currency; Python only arranges the grouped rows.

Money stays in integer minor units of one currency. Several currencies are added together
only by ``convert``, at the rates an admin recorded, and the page says so.
"""

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    DateTimeField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncMonth, TruncWeek
from django.utils import timezone

from accounts.models import Invitation, Workspace
from billing.models import Cancellation, RevenueMovement, Subscription
from billing.templatetags.money import ZERO_DECIMAL
from metrics.models import ChurnCountedAt, ExchangeRate, MetricsSettings
from pql.models import Lead, LeadStatus, LeadType
from usage.models import ActivePersonDay

Kind = RevenueMovement.Kind
KINDS = [Kind.NEW, Kind.EXPANSION, Kind.REACTIVATION, Kind.CONTRACTION, Kind.CHURN]
STARTS = [Kind.NEW, Kind.REACTIVATION]
GROWTH = [Kind.NEW, Kind.EXPANSION, Kind.REACTIVATION]
LOSS = [Kind.CONTRACTION, Kind.CHURN]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ALL = "all"


def metrics_settings() -> MetricsSettings:
    """The settings row (its migration creates it; the defaults if it went missing)."""
    return MetricsSettings.objects.filter(pk=1).first() or MetricsSettings(pk=1)


# Periods ----------------------------------------------------------------------------------


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def as_utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass(frozen=True)
class Period:
    """Whole months: from the first of ``first`` to the end of ``last`` (UTC)."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return as_utc(self.first)

    @property
    def end(self) -> datetime:
        return as_utc(add_months(self.last, 1))

    @property
    def months(self) -> list[date]:
        count = (self.last.year - self.first.year) * 12 + self.last.month - self.first.month + 1
        return [add_months(self.first, i) for i in range(count)]


def default_period(now: datetime | None = None) -> Period:
    """The last twelve months, this one included."""
    this_month = month_start((now or timezone.now()).astimezone(UTC).date())
    return Period(first=add_months(this_month, -11), last=this_month)


# Currencies -------------------------------------------------------------------------------


def currencies_in_use() -> list[str]:
    """Every currency the ledger holds, reporting currency or not, alphabetically."""
    return sorted(set(RevenueMovement.objects.values_list("currency", flat=True).distinct()))


@dataclass(frozen=True)
class Money:
    """How the page adds money: one ``currency`` as recorded, or (``converted``) every
    currency with a recorded rate converted into the reporting currency."""

    currency: str
    converted: bool = False
    rates: dict[str, Decimal] = field(default_factory=dict)
    rate_dates: dict[str, datetime] = field(default_factory=dict)
    missing: tuple[str, ...] = ()

    def value(self, currency: str, cents: int) -> int | None:
        """``cents`` of ``currency`` in the page's currency; None when it is left out."""
        if not self.converted:
            return cents if currency == self.currency else None
        if currency == self.currency:
            return cents
        rate = self.rates.get(currency)
        if rate is None:
            return None
        # Minor units differ between currencies (¥1 is 1, $1 is 100): scale between them.
        scale = Decimal(10) ** (_exponent(self.currency) - _exponent(currency))
        return int((Decimal(cents) * rate * scale).to_integral_value(rounding=ROUND_HALF_UP))

    @property
    def rate_rows(self) -> list[tuple[str, Decimal, datetime | None]]:
        """(currency, rate, when recorded) for the page's note, by currency."""
        return [(c, r, self.rate_dates.get(c)) for c, r in sorted(self.rates.items())]

    def includes(self, currency: str) -> bool:
        return currency == self.currency or (self.converted and currency in self.rates)


def _exponent(currency: str) -> int:
    """How many decimals the currency's minor unit has (Stripe's zero-decimal list, else 2)."""
    return 0 if currency in ZERO_DECIMAL else 2


def money_for(*, selection: str, settings: MetricsSettings, in_use: Iterable[str]) -> Money:
    """``selection`` is a currency code or ``all`` (converted into the reporting currency)."""
    if selection != ALL:
        return Money(currency=selection)
    rates = {rate.currency: rate for rate in ExchangeRate.objects.all()}
    reporting = settings.reporting_currency
    missing = tuple(c for c in in_use if c != reporting and c not in rates)
    return Money(
        currency=reporting,
        converted=True,
        rates={c: r.rate for c, r in rates.items() if c != reporting},
        rate_dates={c: r.recorded_at for c, r in rates.items() if c != reporting},
        missing=missing,
    )


# The ledger as the settings count it -----------------------------------------------------


def counted_movements(settings: MetricsSettings, *, exclude_same_month: bool = True) -> QuerySet:
    """Every movement, annotated with ``effective_at`` (when the settings count it: a churn
    moves back to its cancellation request when churn counts at cancellation) and
    ``metric_kind`` (a return after the reactivation window counts as new). When same-month
    subscribe-and-cancel does not count, the movements of a workspace from its first start
    to its last churn within one calendar month are left out (they add up to zero)."""
    movements = _with_effective(RevenueMovement.objects.all(), settings)
    window = settings.reactivation_window_days
    if window is None:
        movements = movements.annotate(metric_kind=F("kind"))
    else:
        previous_churn = RevenueMovement.objects.filter(
            workspace_id=OuterRef("workspace_id"),
            kind=Kind.CHURN,
            occurred_at__lt=OuterRef("occurred_at"),
        ).order_by("-occurred_at")
        movements = movements.annotate(
            previous_churn_at=Subquery(previous_churn.values("occurred_at")[:1])
        ).annotate(
            metric_kind=Case(
                When(
                    Q(kind=Kind.REACTIVATION)
                    & Q(
                        occurred_at__gt=ExpressionWrapper(
                            F("previous_churn_at") + timedelta(days=window),
                            output_field=DateTimeField(),
                        )
                    ),
                    then=Value(Kind.NEW),
                ),
                default=F("kind"),
            )
        )
    if exclude_same_month and not settings.count_same_month_cancel:
        # A start counts when it happens (only a churn moves): its side needs no lookup.
        starts = _with_effective(
            RevenueMovement.objects.filter(workspace_id=OuterRef("workspace_id"), kind__in=STARTS),
            None,
        )
        churns = _with_effective(
            RevenueMovement.objects.filter(workspace_id=OuterRef("workspace_id"), kind=Kind.CHURN),
            settings,
        )
        same_month = Q(effective_month=OuterRef("effective_month"))
        movements = movements.exclude(
            Exists(starts.filter(same_month, effective_at__lte=OuterRef("effective_at")))
            & Exists(churns.filter(same_month, effective_at__gte=OuterRef("effective_at")))
        )
    return movements


def _with_effective(movements: QuerySet, settings: MetricsSettings | None) -> QuerySet:
    """``effective_at`` and ``effective_month`` as ``settings`` count them (None: when the
    movements happened, right for every kind but a churn counted at cancellation)."""
    if settings is not None and settings.churn_counted_at == ChurnCountedAt.CANCELLATION:
        # The cancellation this churn carries out: the newest one not resumed, asked for after
        # the workspace's latest start before the churn and no later than the churn.
        last_start = RevenueMovement.objects.filter(
            workspace_id=OuterRef(OuterRef("workspace_id")),
            kind__in=STARTS,
            occurred_at__lt=OuterRef(OuterRef("occurred_at")),
        ).order_by("-occurred_at")
        request = Cancellation.objects.filter(
            workspace_id=OuterRef("workspace_id"),
            resumed_at__isnull=True,
            requested_at__lte=OuterRef("occurred_at"),
            requested_at__gt=Coalesce(Subquery(last_start.values("occurred_at")[:1]), Value(EPOCH)),
        ).order_by("-requested_at")
        effective = Case(
            When(
                kind=Kind.CHURN,
                then=Coalesce(Subquery(request.values("requested_at")[:1]), F("occurred_at")),
            ),
            default=F("occurred_at"),
            output_field=DateTimeField(),
        )
    else:
        effective = ExpressionWrapper(F("occurred_at"), output_field=DateTimeField())
    return movements.annotate(effective_at=effective).annotate(
        effective_month=TruncMonth("effective_at", tzinfo=UTC)
    )


# Revenue ------------------------------------------------------------------------------------


@dataclass
class MonthRevenue:
    """A month's movements by kind (signed minor units: contraction and churn negative),
    with the MRR and paying workspaces at its start and end."""

    month: date
    start_mrr: int = 0
    end_mrr: int = 0
    customers_start: int = 0
    customers_end: int = 0
    cents: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    @property
    def net(self) -> int:
        return sum(self.cents.values())

    @property
    def growth(self) -> int:
        return sum(self.cents[k] for k in GROWTH)

    @property
    def loss(self) -> int:
        """Churn and contraction, as a positive amount."""
        return -sum(self.cents[k] for k in LOSS)

    @property
    def net_churn(self) -> Decimal | None:
        """(churn + contraction - expansion - reactivation) / MRR at the start."""
        lost = self.loss - self.cents[Kind.EXPANSION] - self.cents[Kind.REACTIVATION]
        return ratio(lost, self.start_mrr)

    @property
    def gross_churn(self) -> Decimal | None:
        return ratio(self.loss, self.start_mrr)

    @property
    def nrr(self) -> Decimal | None:
        return None if self.net_churn is None else 1 - self.net_churn

    @property
    def grr(self) -> Decimal | None:
        return None if self.gross_churn is None else 1 - self.gross_churn

    @property
    def quick_ratio(self) -> Decimal | None:
        return ratio(self.growth, self.loss)

    @property
    def arpa(self) -> int | None:
        if not self.customers_end:
            return None
        return round_half_up(Decimal(self.end_mrr) / self.customers_end)


def ratio(numerator: int, denominator: int) -> Decimal | None:
    """A ratio with four decimals; None when the denominator is zero (shown as "—")."""
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.0001"), ROUND_HALF_UP)


def round_half_up(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


@dataclass
class Revenue:
    months: list[MonthRevenue]
    trailing: MonthRevenue  # the twelve months to the end of the period, added up
    mrr_now: int
    customers_now: int
    trial_mrr: int | None  # what trials add when they count as MRR; None when they do not
    trial_workspaces: int

    @property
    def total(self) -> MonthRevenue:
        """The period's months added up (start of the first, end of the last)."""
        return _sum_months(self.months)

    @property
    def arpa_now(self) -> int | None:
        if not self.customers_now:
            return None
        return round_half_up(Decimal(self.mrr_now) / self.customers_now)

    @property
    def monthly_revenue_churn(self) -> Decimal | None:
        """The period's churn and contraction over the sum of its months' starting MRR: the
        average monthly gross MRR churn, weighted by MRR."""
        return ratio(sum(m.loss for m in self.months), sum(m.start_mrr for m in self.months))

    @property
    def ltv(self) -> int | None:
        """ARPA now / average monthly gross MRR churn; None without churn."""
        churn = self.monthly_revenue_churn
        if self.arpa_now is None or not churn:
            return None
        return round_half_up(Decimal(self.arpa_now) / churn)


def _sum_months(months: list[MonthRevenue]) -> MonthRevenue:
    total = MonthRevenue(month=months[0].month)
    total.start_mrr = months[0].start_mrr
    total.customers_start = months[0].customers_start
    total.end_mrr = months[-1].end_mrr
    total.customers_end = months[-1].customers_end
    for month in months:
        for kind in KINDS:
            total.cents[kind] += month.cents[kind]
            total.counts[kind] += month.counts[kind]
    return total


@contextmanager
def _without_jit() -> Iterator[None]:
    """PostgreSQL prices the per-churn index probes of churn-at-cancellation as if each read
    pages from disk, and above a cost threshold compiles the query first (JIT): on thousands
    of movements the compiling took ten times longer than running it. These aggregates
    read a few thousand rows through indexes, so they are planned without it."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('jit'), set_config('jit', 'off', true)")
        (before, _off) = cursor.fetchone()
        yield
        # As it was for the rest of an outer transaction (a failure rolls the setting back).
        cursor.execute("SELECT set_config('jit', %s, true)", [before])


def revenue(
    *, period: Period, money: Money, settings: MetricsSettings, now: datetime | None = None
) -> Revenue:
    """The period's months, the trailing twelve months to its end, and MRR now."""
    with _without_jit():
        return _revenue(period=period, money=money, settings=settings, now=now)


def _revenue(
    *, period: Period, money: Money, settings: MetricsSettings, now: datetime | None
) -> Revenue:
    now = now or timezone.now()
    first = min(period.first, add_months(period.last, -11))
    all_months = Period(first=first, last=period.last).months
    movements = counted_movements(settings)
    # Before the first month and now: MRR and paying workspaces (every start adds one, every
    # churn takes one away; left-out same-month pairs cancel out, so no exclusion is needed).
    before, until = Q(effective_at__lt=as_utc(first)), Q(effective_at__lte=now)
    balances = (
        counted_movements(settings, exclude_same_month=False)
        .values("currency")
        .annotate(
            opening=Coalesce(Sum("mrr_delta_cents", filter=before), 0),
            opening_starts=Count("id", filter=before & Q(kind__in=STARTS)),
            opening_churns=Count("id", filter=before & Q(kind=Kind.CHURN)),
            now=Coalesce(Sum("mrr_delta_cents", filter=until), 0),
            now_starts=Count("id", filter=until & Q(kind__in=STARTS)),
            now_churns=Count("id", filter=until & Q(kind=Kind.CHURN)),
        )
        .order_by()
    )
    mrr = customers = mrr_now = customers_now = 0
    for row in balances:
        if not money.includes(row["currency"]):
            continue
        mrr += money.value(row["currency"], row["opening"]) or 0
        customers += row["opening_starts"] - row["opening_churns"]
        mrr_now += money.value(row["currency"], row["now"]) or 0
        customers_now += row["now_starts"] - row["now_churns"]
    grouped = (
        movements.filter(effective_at__gte=as_utc(first), effective_at__lt=period.end)
        .values("effective_month", "metric_kind", "kind", "currency")
        .annotate(cents=Sum("mrr_delta_cents"), count=Count("id"))
        .order_by()
    )
    by_month = {month: MonthRevenue(month=month) for month in all_months}
    customer_change: dict[date, int] = defaultdict(int)
    for row in grouped:
        value = money.value(row["currency"], row["cents"])
        if value is None:
            continue
        month = by_month[row["effective_month"].astimezone(UTC).date()]
        month.cents[row["metric_kind"]] += value
        month.counts[row["metric_kind"]] += row["count"]
        if row["kind"] in STARTS:
            customer_change[month.month] += row["count"]
        elif row["kind"] == Kind.CHURN:
            customer_change[month.month] -= row["count"]
    for month in all_months:
        item = by_month[month]
        item.start_mrr, item.customers_start = mrr, customers
        mrr += item.net
        customers += customer_change[month]
        item.end_mrr, item.customers_end = mrr, customers
    trial_mrr, trial_workspaces = _trial_mrr(money) if settings.trials_count_as_mrr else (None, 0)
    return Revenue(
        months=[by_month[m] for m in period.months],
        trailing=_sum_months([by_month[m] for m in all_months[-12:]]),
        mrr_now=mrr_now + (trial_mrr or 0),
        customers_now=customers_now + trial_workspaces,
        trial_mrr=trial_mrr,
        trial_workspaces=trial_workspaces,
    )


def trialing_subscriptions() -> QuerySet[Subscription]:
    """Trialing subscriptions with what they will pay per month at their catalog price
    (``trial_mrr_cents``): per seat or flat, a yearly price a twelfth (halves up)."""
    amount = Case(
        When(
            price__scheme="per_seat",
            then=ExpressionWrapper(
                F("price__amount_cents") * F("seats"), output_field=BigIntegerField()
            ),
        ),
        default=F("price__amount_cents"),
        output_field=BigIntegerField(),
    )
    monthly = Case(
        When(
            price__interval="year",
            then=ExpressionWrapper((amount + 6) / 12, output_field=BigIntegerField()),
        ),
        default=amount,
        output_field=BigIntegerField(),
    )
    return Subscription.objects.filter(
        status=Subscription.Status.TRIALING, price__isnull=False
    ).annotate(trial_mrr_cents=monthly)


def _trial_mrr(money: Money) -> tuple[int, int]:
    rows = (
        trialing_subscriptions()
        .values("currency")
        .annotate(cents=Sum("trial_mrr_cents"), count=Count("id"))
        .order_by()
    )
    cents = workspaces = 0
    for row in rows:
        value = money.value(row["currency"], row["cents"] or 0)
        if value is not None:
            cents += value
            workspaces += row["count"]
    return cents, workspaces


def movements_in(
    *,
    settings: MetricsSettings,
    money: Money,
    month: date | None = None,
    period: Period | None = None,
    kind: str | None = None,
) -> QuerySet:
    """The movements behind a figure: those counted in ``month`` (or the period), of
    ``kind`` as the metrics count it, in the page's currencies; workspace joined."""
    movements = counted_movements(settings).select_related("workspace")
    if month is not None:
        movements = movements.filter(effective_month=as_utc(month))
    elif period is not None:
        movements = movements.filter(effective_at__gte=period.start, effective_at__lt=period.end)
    if kind:
        movements = movements.filter(metric_kind=kind)
    currencies = [money.currency, *money.rates] if money.converted else [money.currency]
    return movements.filter(currency__in=currencies).order_by("effective_at", "id")


def paying_at(*, settings: MetricsSettings, money: Money, moment: datetime) -> QuerySet:
    """The workspaces paying just before ``moment`` as the settings count the ledger: one row
    per workspace and currency with its MRR then (``mrr``), biggest first."""
    currencies = [money.currency, *money.rates] if money.converted else [money.currency]
    return (
        counted_movements(settings, exclude_same_month=False)
        .filter(effective_at__lt=moment, currency__in=currencies)
        .values("workspace_id", "workspace__name", "workspace__slug", "currency")
        .annotate(mrr=Sum("mrr_delta_cents"))
        .filter(mrr__gt=0)
        .order_by("-mrr", "workspace__name")
    )


def people_active(*, month: date) -> QuerySet:
    """The people active in ``month`` (behind DAU/MAU): days active and workspaces, most
    active first."""
    return (
        ActivePersonDay.objects.filter(day__gte=month, day__lt=add_months(month, 1))
        .values("person")
        .annotate(days=Count("day", distinct=True), workspaces=Count("workspace_id", distinct=True))
        .order_by("-days", "person")
    )


def paying_workspaces(*, money: Money) -> QuerySet[Subscription]:
    """Workspaces paying now (MRR above zero), biggest first: behind MRR now and ARPA."""
    currencies = [money.currency, *money.rates] if money.converted else [money.currency]
    return (
        Subscription.objects.filter(mrr_cents__gt=0, currency__in=currencies)
        .select_related("workspace", "plan")
        .order_by("-mrr_cents", "workspace__name")
    )


# Funnel -----------------------------------------------------------------------------------


def signups_by_week(*, period: Period) -> list[tuple[date, int]]:
    """Workspaces created per week (weeks start on Monday), oldest first."""
    rows = (
        Workspace.objects.filter(created_at__gte=period.start, created_at__lt=period.end)
        .annotate(week=TruncWeek("created_at", tzinfo=UTC))
        .values("week")
        .annotate(count=Count("id"))
        .order_by("week")
    )
    return [(row["week"].astimezone(UTC).date(), row["count"]) for row in rows]


@dataclass(frozen=True)
class Activation:
    signups: int
    activated: int
    median: timedelta | None
    p90: timedelta | None

    @property
    def rate(self) -> Decimal | None:
        return ratio(self.activated, self.signups)


def _percentile(queryset: QuerySet, expression, count: int, share: Decimal) -> timedelta | None:
    """The nearest-rank percentile of ``expression`` over ``count`` rows: the value at rank
    ceil(share * count) in ascending order, read in SQL."""
    if not count:
        return None
    rank = max(1, math.ceil(share * count))
    return (
        queryset.annotate(value=expression)
        .order_by("value", "pk")
        .values_list("value", flat=True)[rank - 1]
    )


def activation(*, period: Period) -> Activation:
    """Of the workspaces that signed up in the period: how many activated (ever), and the
    median and 90th percentile of the time from sign-up to activation."""
    signed_up = Workspace.objects.filter(created_at__gte=period.start, created_at__lt=period.end)
    counts = signed_up.aggregate(
        signups=Count("id"), activated=Count("id", filter=Q(activated_at__isnull=False))
    )
    activated = signed_up.filter(activated_at__isnull=False)
    duration = ExpressionWrapper(F("activated_at") - F("created_at"), output_field=DurationField())
    return Activation(
        signups=counts["signups"],
        activated=counts["activated"],
        median=_percentile(activated, duration, counts["activated"], Decimal("0.5")),
        p90=_percentile(activated, duration, counts["activated"], Decimal("0.9")),
    )


@dataclass
class Cohort:
    month: date
    activated: int = 0
    activated_paid: int = 0
    not_activated: int = 0
    not_activated_paid: int = 0

    @property
    def signups(self) -> int:
        return self.activated + self.not_activated

    @property
    def paid(self) -> int:
        return self.activated_paid + self.not_activated_paid

    @property
    def conversion(self) -> Decimal | None:
        return ratio(self.paid, self.signups)

    @property
    def activated_conversion(self) -> Decimal | None:
        return ratio(self.activated_paid, self.activated)

    @property
    def not_activated_conversion(self) -> Decimal | None:
        return ratio(self.not_activated_paid, self.not_activated)


def paid_ever() -> Exists:
    """The workspace has had revenue: a ``new`` movement in the ledger."""
    return Exists(RevenueMovement.objects.filter(workspace_id=OuterRef("pk"), kind=Kind.NEW))


def cohorts(*, period: Period) -> list[Cohort]:
    """Free-to-paid by sign-up month: of each month's sign-ups, how many have paid since
    (ever had a ``new`` movement), split by whether they activated."""
    rows = (
        Workspace.objects.filter(created_at__gte=period.start, created_at__lt=period.end)
        .annotate(
            cohort=TruncMonth("created_at", tzinfo=UTC),
            is_activated=Q(activated_at__isnull=False),
            has_paid=paid_ever(),
        )
        .values("cohort", "is_activated", "has_paid")
        .annotate(count=Count("id"))
        .order_by()
    )
    result = {m: Cohort(month=m) for m in period.months}
    for row in rows:
        cohort = result[row["cohort"].astimezone(UTC).date()]
        prefix = "activated" if row["is_activated"] else "not_activated"
        setattr(cohort, prefix, getattr(cohort, prefix) + row["count"])
        if row["has_paid"]:
            setattr(cohort, f"{prefix}_paid", getattr(cohort, f"{prefix}_paid") + row["count"])
    return list(result.values())


@dataclass(frozen=True)
class Stickiness:
    month: date
    average_dau: Decimal
    mau: int

    @property
    def ratio(self) -> Decimal | None:
        if not self.mau:
            return None
        return (self.average_dau / self.mau).quantize(Decimal("0.0001"), ROUND_HALF_UP)


def stickiness(*, period: Period, now: datetime | None = None) -> list[Stickiness]:
    """DAU/MAU per month: the average over the month's days (to today in the current
    month) of the distinct people active that day, over the distinct people active in the
    month. A person is an e-mail address that sent a product event."""
    today = (now or timezone.now()).astimezone(UTC).date()
    days = ActivePersonDay.objects.filter(day__gte=period.first, day__lt=period.end.date())
    daily = days.values("day").annotate(people=Count("person", distinct=True)).order_by()
    # Distinct people per month as one conditional aggregate per month: no per-row function
    # call to truncate the day (which SQLite would make in Python for every row).
    monthly = days.aggregate(
        **{
            f"m{index}": Count(
                "person",
                distinct=True,
                filter=Q(day__gte=month, day__lt=add_months(month, 1)),
            )
            for index, month in enumerate(period.months)
        }
    )
    day_sums: dict[date, int] = defaultdict(int)
    for row in daily:
        day_sums[month_start(row["day"])] += row["people"]
    mau = {month: monthly[f"m{index}"] for index, month in enumerate(period.months)}
    result = []
    for month in period.months:
        if month > today:
            break
        last = min(add_months(month, 1) - timedelta(days=1), today)
        day_count = (last - month).days + 1
        average = (Decimal(day_sums[month]) / day_count).quantize(Decimal("0.01"), ROUND_HALF_UP)
        result.append(Stickiness(month=month, average_dau=average, mau=mau.get(month, 0)))
    return result


# PQLs ---------------------------------------------------------------------------------------


def pqls_by_week(*, period: Period) -> list[tuple[date, dict[str, int]]]:
    """Leads opened per week, by type (upgrade, expansion)."""
    rows = (
        Lead.objects.filter(opened_at__gte=period.start, opened_at__lt=period.end)
        .annotate(week=TruncWeek("opened_at", tzinfo=UTC))
        .values("week", "type")
        .annotate(count=Count("id"))
        .order_by("week")
    )
    weeks: dict[date, dict[str, int]] = {}
    for row in rows:
        week = row["week"].astimezone(UTC).date()
        weeks.setdefault(week, dict.fromkeys(LeadType.values, 0))[row["type"]] = row["count"]
    return sorted(weeks.items())


@dataclass(frozen=True)
class PqlConversion:
    opened: int
    won: int
    won_sales: int
    won_self_serve: int
    median_to_paid: timedelta | None
    p90_to_paid: timedelta | None

    @property
    def rate(self) -> Decimal | None:
        return ratio(self.won, self.opened)


def pql_conversion(*, period: Period) -> PqlConversion:
    """Of the leads opened in the period, how many were won (paid: by sales or a self-serve
    upgrade), and the time from opening to the win."""
    opened = Lead.objects.filter(opened_at__gte=period.start, opened_at__lt=period.end)
    counts = opened.aggregate(
        opened=Count("id"),
        won=Count("id", filter=Q(status=LeadStatus.WON)),
        sales=Count("id", filter=Q(status=LeadStatus.WON, won_via=Lead.WonVia.SALES)),
        self_serve=Count("id", filter=Q(status=LeadStatus.WON, won_via=Lead.WonVia.SELF_SERVE)),
    )
    won = opened.filter(status=LeadStatus.WON)
    duration = ExpressionWrapper(F("closed_at") - F("opened_at"), output_field=DurationField())
    return PqlConversion(
        opened=counts["opened"],
        won=counts["won"],
        won_sales=counts["sales"],
        won_self_serve=counts["self_serve"],
        median_to_paid=_percentile(won, duration, counts["won"], Decimal("0.5")),
        p90_to_paid=_percentile(won, duration, counts["won"], Decimal("0.9")),
    )


def revenue_won_via(*, period: Period, money: Money) -> dict[tuple[str, str], tuple[int, int]]:
    """MRR added by leads won in the period, by (won via, lead type): (leads, cents)."""
    rows = (
        Lead.objects.filter(
            status=LeadStatus.WON, closed_at__gte=period.start, closed_at__lt=period.end
        )
        .values("won_via", "type", "currency")
        .annotate(cents=Sum(Coalesce("mrr_change_cents", 0)), count=Count("id"))
        .order_by()
    )
    result: dict[tuple[str, str], tuple[int, int]] = {
        (via, kind): (0, 0) for via in Lead.WonVia.values for kind in LeadType.values
    }
    for row in rows:
        value = money.value(row["currency"], row["cents"])
        if value is None or (row["won_via"], row["type"]) not in result:
            continue
        count, cents = result[(row["won_via"], row["type"])]
        result[(row["won_via"], row["type"])] = (count + row["count"], cents + value)
    return result


def leads_in(
    *,
    period: Period,
    week: date | None = None,
    type: str | None = None,
    won_via: str | None = None,
) -> QuerySet[Lead]:
    """The leads behind a PQL figure: opened in the week (or the period), of a type; with
    ``won_via``, the leads won that way and closed in the period."""
    leads = Lead.objects.select_related("workspace", "owner")
    if won_via:
        leads = leads.filter(
            status=LeadStatus.WON,
            won_via=won_via,
            closed_at__gte=period.start,
            closed_at__lt=period.end,
        )
    elif week is not None:
        start = as_utc(week)
        leads = leads.filter(opened_at__gte=start, opened_at__lt=start + timedelta(days=7))
    else:
        leads = leads.filter(opened_at__gte=period.start, opened_at__lt=period.end)
    if type:
        leads = leads.filter(type=type)
    return leads.order_by("-opened_at", "-id")


# The viral loop -----------------------------------------------------------------------------


@dataclass
class ViralCohort:
    month: date
    workspaces: int = 0
    sent: int = 0
    accepted: int = 0

    @property
    def invitations_per_workspace(self) -> Decimal | None:
        return ratio(self.sent, self.workspaces)

    @property
    def acceptance(self) -> Decimal | None:
        return ratio(self.accepted, self.sent)

    @property
    def k_factor(self) -> Decimal | None:
        """Invitations per workspace times the share accepted: accepted per workspace."""
        return ratio(self.accepted, self.workspaces)


def viral_cohorts(*, period: Period) -> list[ViralCohort]:
    """Per sign-up month: the workspaces, the invitations they have sent since, and how many
    were accepted."""
    result = {m: ViralCohort(month=m) for m in period.months}
    signed_up = (
        Workspace.objects.filter(created_at__gte=period.start, created_at__lt=period.end)
        .annotate(cohort=TruncMonth("created_at", tzinfo=UTC))
        .values("cohort")
        .annotate(count=Count("id"))
        .order_by()
    )
    for row in signed_up:
        result[row["cohort"].astimezone(UTC).date()].workspaces = row["count"]
    invitations = (
        Invitation.objects.filter(
            workspace__created_at__gte=period.start, workspace__created_at__lt=period.end
        )
        .annotate(cohort=TruncMonth("workspace__created_at", tzinfo=UTC))
        .values("cohort")
        .annotate(sent=Count("id"), accepted=Count("id", filter=Q(accepted_at__isnull=False)))
        .order_by()
    )
    for row in invitations:
        cohort = result[row["cohort"].astimezone(UTC).date()]
        cohort.sent, cohort.accepted = row["sent"], row["accepted"]
    return list(result.values())


def workspaces_in(
    *,
    period: Period,
    cohort: date | None = None,
    week: date | None = None,
    activated: bool | None = None,
    paid: bool | None = None,
) -> QuerySet[Workspace]:
    """The workspaces behind a funnel figure, with their invitations sent and accepted."""
    workspaces = Workspace.objects.all()
    if cohort is not None:
        workspaces = workspaces.filter(
            created_at__gte=as_utc(cohort), created_at__lt=as_utc(add_months(cohort, 1))
        )
    elif week is not None:
        workspaces = workspaces.filter(
            created_at__gte=as_utc(week), created_at__lt=as_utc(week) + timedelta(days=7)
        )
    else:
        workspaces = workspaces.filter(created_at__gte=period.start, created_at__lt=period.end)
    if activated is not None:
        workspaces = workspaces.filter(activated_at__isnull=not activated)
    workspaces = workspaces.annotate(has_paid=paid_ever())
    if paid is not None:
        workspaces = workspaces.filter(has_paid=paid)
    return workspaces.annotate(
        invitations_sent=Count("invitations", distinct=True),
        invitations_accepted=Count(
            "invitations", filter=Q(invitations__accepted_at__isnull=False), distinct=True
        ),
    ).order_by("-created_at", "-id")


# Why people leave ---------------------------------------------------------------------------


def cancellations_with_mrr() -> QuerySet[Cancellation]:
    """Cancellations not resumed, with the MRR the workspace had when it asked
    (``mrr_lost_cents``, in ``mrr_currency``): the ledger's last figure before the request."""
    before = RevenueMovement.objects.filter(
        workspace_id=OuterRef("workspace_id"), occurred_at__lte=OuterRef("requested_at")
    ).order_by("-occurred_at", "-id")
    return Cancellation.objects.filter(resumed_at__isnull=True).annotate(
        mrr_lost_cents=Coalesce(Subquery(before.values("mrr_after_cents")[:1]), 0),
        mrr_currency=Subquery(before.values("currency")[:1]),
        month=TruncMonth("requested_at", tzinfo=UTC),
    )


@dataclass
class ReasonRow:
    reason: str
    label: str
    by_month: dict[date, int]
    count: int = 0
    mrr_lost: int = 0


def cancellation_reasons(*, period: Period, money: Money) -> list[ReasonRow]:
    """Per reason: cancellations asked for in each month of the period, and the MRR they
    took away (in the page's currencies), most MRR first."""
    rows = (
        cancellations_with_mrr()
        .filter(requested_at__gte=period.start, requested_at__lt=period.end)
        .values("month", "reason", "mrr_currency")
        .annotate(count=Count("id"), cents=Sum("mrr_lost_cents"))
        .order_by()
    )
    reasons = {
        value: ReasonRow(value, label, dict.fromkeys(period.months, 0))
        for value, label in Cancellation.Reason.choices
    }
    for row in rows:
        reason = reasons[row["reason"]]
        reason.by_month[row["month"].astimezone(UTC).date()] += row["count"]
        reason.count += row["count"]
        value = money.value(row["mrr_currency"], row["cents"]) if row["mrr_currency"] else None
        if value is not None:
            reason.mrr_lost += value
    return sorted(reasons.values(), key=lambda r: (-r.mrr_lost, -r.count, r.label))


def cancellations_in(
    *, period: Period, reason: str | None = None, month: date | None = None
) -> QuerySet[Cancellation]:
    """The cancellations behind a reason's figure, with their comments, newest first."""
    cancellations = cancellations_with_mrr().select_related("workspace")
    if month is not None:
        cancellations = cancellations.filter(month=as_utc(month))
    else:
        cancellations = cancellations.filter(
            requested_at__gte=period.start, requested_at__lt=period.end
        )
    if reason:
        cancellations = cancellations.filter(reason=reason)
    return cancellations.order_by("-requested_at", "-id")
