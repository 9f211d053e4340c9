"""Admin forms for the catalog and for what staff change for one workspace.

* A saved price's terms never change, so subscribers keep paying what they signed up for.
* Tightening a plan's limit first shows which subscribers it affects (the impact preview)
  and is saved only once the billing admin confirms it.
* Overrides and plan moves are validated here as their services validate them, so a refusal
  is a form error rather than a failed save.
"""

from dataclasses import dataclass, replace
from datetime import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.forms.models import BaseInlineFormSet
from django.utils import timezone
from django.utils.functional import cached_property

from accounts.models import Workspace
from billing.models import Enforcement, Plan, Price, Subscription, WorkspaceOverride
from usage.models import Metric
from usage.selectors import usage_by_workspace

# Prices -----------------------------------------------------------------------------------

PRICE_TERMS = ("interval", "amount_cents", "currency", "scheme")
PRICE_TERMS_LOCKED_HELP = (
    "Fixed once saved, so subscribers keep paying what they signed up for. To change it, "
    "untick “Active” and add a new price."
)


class PriceAdminForm(forms.ModelForm):
    """One price of a plan. Once saved, its interval, amount, currency and scheme are
    read-only: the admin deactivates it and adds a new price instead."""

    class Meta:
        model = Price
        fields = ["interval", "amount_cents", "currency", "scheme", "is_active", "stripe_price_id"]
        labels = {"amount_cents": "Amount (cents)"}
        help_texts = {
            "amount_cents": "In minor units: 1200 is 12.00.",
            "currency": "Three-letter ISO code in lower case, such as “usd”.",
        }

    def __init__(self, *args, formset: "PriceFormSet | None" = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.formset = formset
        if self.instance.pk is not None:
            for name in PRICE_TERMS:
                if name in self.fields:
                    # Disabled: whatever is posted, the saved value is kept.
                    self.fields[name].disabled = True
                    self.fields[name].help_text = PRICE_TERMS_LOCKED_HELP

    def validate_constraints(self) -> None:
        """A new active price may replace one that the same save deactivates: the database
        check would still see the old one active, so skip the one-active-price check here
        (the formset checks the rows against each other)."""
        replaces = (
            self.formset is not None
            and self.instance.pk is None
            and self.instance.is_active
            and (self.instance.interval, self.instance.currency) in self.formset.deactivated
        )
        if not replaces:
            super().validate_constraints()
            return
        self.instance.is_active = False
        try:
            super().validate_constraints()
        finally:
            self.instance.is_active = True


class PriceFormSet(BaseInlineFormSet):
    """The prices of a plan: at most one active price per interval and currency."""

    def get_form_kwargs(self, index: int | None) -> dict:
        return {**super().get_form_kwargs(index), "formset": self}

    @cached_property
    def deactivated(self) -> set[tuple[str, str]]:
        """(interval, currency) of the saved active prices that this save deactivates."""
        return {
            (form.initial["interval"], form.initial["currency"])
            for form in self.initial_forms
            if form.initial.get("is_active") and not form["is_active"].data
        }

    def clean(self) -> None:
        super().clean()
        active: set[tuple[str, str]] = set()
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            terms = (data.get("interval"), data.get("currency"))
            if not data.get("is_active") or None in terms:
                continue
            if terms in active:
                interval, currency = terms
                raise ValidationError(
                    f"Only one active {interval}ly price in {currency.upper()} per plan: "
                    "deactivate one of them.",
                    code="duplicate_active_price",
                )
            active.add(terms)


# Limits and their impact ------------------------------------------------------------------

CONFIRM_IMPACT_FIELD = "confirm_impact"
NEAR_LIMIT_PERCENT = 80
IMPACT_ROWS_SHOWN = 200


@dataclass(frozen=True)
class LimitChange:
    """A plan limit made tighter: lower, finite where it was unlimited (None), or hard
    where it was soft."""

    metric: Metric
    old_limit: int | None
    new_limit: int
    old_enforcement: str | None
    new_enforcement: str


@dataclass(frozen=True)
class ImpactRow:
    workspace_id: int
    name: str
    slug: str
    used: int
    limit: int

    @property
    def is_over(self) -> bool:
        return self.used > self.limit

    @property
    def percent(self) -> int | None:
        return self.used * 100 // self.limit if self.limit else None


@dataclass(frozen=True)
class MetricImpact:
    """What one tightened limit does to the workspaces on the plan."""

    metric: str
    name: str
    unit: str
    old_limit: int | None
    new_limit: int
    old_enforcement: str | None
    new_enforcement: str
    counted: int  # workspaces on the plan whose limit comes from the plan
    overridden: int  # workspaces on the plan with an active override for the metric
    over: int  # used > new limit
    near: int  # used >= 80 % of the new limit, not over
    rows: tuple[ImpactRow, ...]  # the over and near ones, the most affected first, capped

    @property
    def affected(self) -> int:
        return self.over + self.near

    @property
    def now_hard(self) -> bool:
        """Soft before, hard now: what is over the limit will be blocked, not just warned."""
        return self.old_enforcement == Enforcement.SOFT and self.new_enforcement == Enforcement.HARD

    @property
    def more(self) -> int:
        """Affected workspaces beyond the listed rows."""
        return self.affected - len(self.rows)

    @property
    def summary(self) -> str:
        return (
            f"{self.name}: {self.over} over, {self.near} within {NEAR_LIMIT_PERCENT}% "
            f"of the new limit of {self.new_limit}"
        )


@dataclass(frozen=True)
class LimitImpact:
    """The impact preview of a plan edit: one entry per tightened limit."""

    metrics: tuple[MetricImpact, ...]
    confirmed: bool = False

    @property
    def needs_confirmation(self) -> bool:
        return any(m.affected for m in self.metrics)

    @property
    def signature(self) -> str:
        """Names the reviewed changes: a confirmation counts only for the limits it was
        given for, not for values edited after the preview was shown."""
        return ";".join(f"{m.metric}={m.new_limit}:{m.new_enforcement}" for m in self.metrics)

    @property
    def summary(self) -> str:
        return "; ".join(m.summary for m in self.metrics if m.affected)


def _is_near(used: int, limit: int) -> bool:
    return used * 100 >= limit * NEAR_LIMIT_PERCENT  # integers: no rounding at the edge


def limit_change_impact(
    *, plan: Plan, changes: list[LimitChange], now: datetime | None = None
) -> LimitImpact:
    """For the workspaces on ``plan`` without an active override of the metric, how many
    use more than each new limit and how many are within 80 % of it, and which.

    Set-based: one query for the subscribers, one for their overrides, the usage of each
    metric for all of them at once, and one for the names of the listed workspaces."""
    now = now or timezone.now()
    subscribers = list(
        Subscription.objects.filter(plan=plan).values_list("workspace_id", flat=True)
    )
    overridden = set(
        WorkspaceOverride.objects.filter(
            workspace__subscription__plan=plan,
            metric_id__in=[change.metric.key for change in changes],
        )
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .values_list("workspace_id", "metric_id")
        .distinct()
    )
    impacts = []
    for change in changes:
        key, limit = change.metric.key, change.new_limit
        counted = [w for w in subscribers if (w, key) not in overridden]
        usage = usage_by_workspace(metric=key, workspace_ids=counted, now=now) if counted else {}
        over = [(w, used) for w, used in usage.items() if used > limit]
        near = [(w, used) for w, used in usage.items() if used <= limit and _is_near(used, limit)]
        most_affected_first = sorted(over, key=_by_usage) + sorted(near, key=_by_usage)
        impacts.append(
            MetricImpact(
                metric=key,
                name=change.metric.name,
                unit=change.metric.unit,
                old_limit=change.old_limit,
                new_limit=limit,
                old_enforcement=change.old_enforcement,
                new_enforcement=change.new_enforcement,
                counted=len(counted),
                overridden=len(subscribers) - len(counted),
                over=len(over),
                near=len(near),
                rows=tuple(
                    ImpactRow(workspace_id=w, name="", slug="", used=used, limit=limit)
                    for w, used in most_affected_first[:IMPACT_ROWS_SHOWN]
                ),
            )
        )

    # Names only for the listed rows, in one query for all metrics.
    listed = {r.workspace_id for impact in impacts for r in impact.rows}
    names = {
        pk: {"name": name, "slug": slug}
        for pk, name, slug in Workspace.objects.filter(pk__in=listed).values_list(
            "pk", "name", "slug"
        )
    }
    return LimitImpact(
        metrics=tuple(
            replace(
                impact,
                rows=tuple(replace(r, **names.get(r.workspace_id, {})) for r in impact.rows),
            )
            for impact in impacts
        )
    )


def _by_usage(row: tuple[int, int]) -> tuple[int, int]:
    workspace_id, used = row
    return -used, workspace_id


class PlanLimitFormSet(BaseInlineFormSet):
    """The limits of a plan. A change that tightens a limit is first checked against the
    plan's subscribers: if any use more than the new limit, or 80 % of it or more, nothing is
    saved until the admin confirms, having seen the impact (``self.impact``)."""

    impact: LimitImpact | None = None

    def tightened(self) -> list[LimitChange]:
        """The limits this save makes tighter, from the validated forms: lower, finite where
        they were unlimited or missing, or hard where they were soft."""
        before = {
            form.initial["metric"]: (form.initial["limit"], form.initial["enforcement"])
            for form in self.initial_forms
        }
        changes = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            metric, limit, enforcement = (
                data.get("metric"),
                data.get("limit"),
                data.get("enforcement"),
            )
            if metric is None or limit is None or (self.can_delete and data.get("DELETE")):
                continue
            old_limit, old_enforcement = before.get(metric.key, (None, None))
            if (
                old_limit is None
                or limit < old_limit
                or (old_enforcement == Enforcement.SOFT and enforcement == Enforcement.HARD)
            ):
                changes.append(
                    LimitChange(
                        metric=metric,
                        old_limit=old_limit,
                        new_limit=limit,
                        old_enforcement=old_enforcement,
                        new_enforcement=enforcement,
                    )
                )
        return sorted(changes, key=lambda change: change.metric.key)

    def clean(self) -> None:
        super().clean()
        if self.instance.pk is None or any(self.errors):
            return  # a new plan has no subscribers; fix the other errors first
        changes = self.tightened()
        if not changes:
            return
        impact = limit_change_impact(plan=self.instance, changes=changes)
        confirmed = self.data.get(CONFIRM_IMPACT_FIELD) == impact.signature
        self.impact = replace(impact, confirmed=confirmed)
        if impact.needs_confirmation and not confirmed:
            raise ValidationError(
                f"These limit changes affect workspaces on this plan ({impact.summary}). "
                "Nothing has been saved: review the impact at the top of the page, tick “I "
                "have reviewed the impact of these limit changes” and save again.",
                code="impact_not_confirmed",
            )


# Overrides and plan moves -----------------------------------------------------------------


class WorkspaceOverrideAdminForm(forms.ModelForm):
    """An override as ``billing.services.override_grant`` accepts it."""

    class Meta:
        model = WorkspaceOverride
        fields = [
            "workspace",
            "metric",
            "limit",
            "enforcement",
            "feature",
            "enabled",
            "reason",
            "expires_at",
        ]
        help_texts = {
            "metric": "Override a limit (with “Limit” and “Enforcement”) …",
            "feature": "… or a feature (with “Enabled”), not both.",
            "expires_at": "Empty: until revoked. Sales trials of a paid feature end here.",
        }

    def clean_expires_at(self) -> datetime | None:
        expires_at = self.cleaned_data.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            raise ValidationError("The expiry must be in the future.", code="expired")
        return expires_at


class SubscriptionAdminForm(forms.ModelForm):
    """Move a workspace to another plan by hand (``billing.services.subscription_set_plan``)."""

    reason = forms.CharField(
        max_length=255,
        required=False,
        help_text="Why the workspace moves (a contract signed, a courtesy): kept in the audit log.",
    )

    class Meta:
        model = Subscription
        fields = ["plan"]
        help_texts = {
            "plan": "What the workspace already uses above the new plan's limits stays, but "
            "nothing more can be added until it fits.",
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "plan" in self.fields:
            current = self.instance.plan_id if self.instance.pk else None
            self.fields["plan"].queryset = Plan.objects.filter(
                Q(status=Plan.Status.ACTIVE) | Q(pk=current)
            )
