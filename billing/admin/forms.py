"""Admin forms for the catalog and for what staff change for one workspace.

* A saved price's terms never change, so subscribers keep paying what they signed up for.
* Changing a plan's limit first shows which subscribers it affects (the impact preview:
  who is over or near a tightened limit, who a loosened one frees) and is saved only once
  the billing admin confirms it.
* The rows of the plan's inlines name themselves, so that each field has an accessible
  name ("Limit for API calls") although the tabular inline shows only column headers.
* Overrides and plan moves are validated here as their services validate them, so a refusal
  is a form error rather than a failed save.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import IntEnum

from django import forms
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.forms.models import BaseInlineFormSet
from django.forms.utils import ErrorList
from django.utils import timezone
from django.utils.functional import cached_property

from accounts.models import Workspace
from billing.entitlements import NEAR_LIMIT_PERCENT, limit_is_near
from billing.models import Enforcement, Plan, Price, Subscription, WorkspaceOverride
from usage.models import Metric
from usage.selectors import usage_by_workspace

# Inline rows ------------------------------------------------------------------------------


class LabelledInlineFormSet(BaseInlineFormSet):
    """An inline formset whose forms carry ``row_name``, what the row is ("API calls", "the
    monthly USD price", "new limit"), for the labels of its fields
    (``templates/admin/billing/plan/tabular.html``)."""

    row_noun = "row"

    def row_name(self, form: forms.ModelForm) -> str | None:
        """The name of a saved row; None when the row has nothing to be named by."""
        return None

    def add_fields(self, form: forms.ModelForm, index: int | None) -> None:
        super().add_fields(form, index)
        name = self.row_name(form) if form.instance.pk is not None else None
        if name is None:
            number = "" if index is None else f" {index - self.initial_form_count() + 1}"
            name = f"new {self.row_noun}{number}"
        form.row_name = name

    def shown_non_form_errors(self) -> ErrorList:
        return without_impact_step(self.non_form_errors())


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


class PriceFormSet(LabelledInlineFormSet):
    """The prices of a plan: at most one active price per interval and currency."""

    row_noun = "price"

    def row_name(self, form: forms.ModelForm) -> str:
        price = form.instance
        return f"the {price.get_interval_display().lower()} {price.currency.upper()} price"

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

CONFIRM_IMPACT_FIELD = "confirm_impact"  # the confirm button posts the preview's signature
IMPACT_PAGE_FIELD = "impact_page"  # a pager button posts "<metric>:<page>"
IMPACT_PAGE_SIZE = 50
# The code of the formset error that holds a save until the preview is confirmed. The admin
# shows it as the preview step, not as an error to correct.
IMPACT_STEP = "impact_not_confirmed"


class Standing(IntEnum):
    """Where a workspace stands against a limit, from free to stuck."""

    CLEAR = 0  # below NEAR_LIMIT_PERCENT of the limit, or no limit
    NEAR = 1  # NEAR_LIMIT_PERCENT of the limit or more, not over (at a soft one included)
    OVER = 2  # over a soft limit: allowed, warned
    BLOCKED = 3  # at or over a hard limit: nothing more can be added

    @property
    def label(self) -> str:
        return {0: "Clear", 1: "Near", 2: "Over (soft)", 3: "Blocked"}[self.value]


def _standing(used: int, limit: int | None, enforcement: str | None) -> Standing:
    if limit is None:
        return Standing.CLEAR
    if enforcement == Enforcement.HARD and used >= limit:
        return Standing.BLOCKED
    if used > limit:
        return Standing.OVER
    return Standing.NEAR if limit_is_near(used, limit) else Standing.CLEAR


@dataclass(frozen=True)
class LimitChange:
    """A plan limit this save changes. ``None`` is unlimited (or no limit row at all)."""

    metric: Metric
    old_limit: int | None
    new_limit: int | None
    old_enforcement: str | None
    new_enforcement: str | None

    @property
    def tightens(self) -> bool:
        """Lower, finite where it was unlimited, or hard where it was soft."""
        if self.new_limit is None:
            return False
        return (
            self.old_limit is None
            or self.new_limit < self.old_limit
            or (
                self.old_enforcement == Enforcement.SOFT
                and self.new_enforcement == Enforcement.HARD
            )
        )

    @property
    def loosens(self) -> bool:
        """Higher, unlimited where it was finite, or soft where it was hard."""
        if self.old_limit is None or self.tightens:
            return False
        return (
            self.new_limit is None
            or self.new_limit > self.old_limit
            or (
                self.old_enforcement == Enforcement.HARD
                and self.new_enforcement == Enforcement.SOFT
            )
        )


@dataclass(frozen=True)
class ImpactRow:
    workspace_id: int
    name: str
    slug: str
    used: int
    limit: int | None  # the new limit
    old_limit: int | None = None
    before: Standing = Standing.CLEAR  # against the old limit
    after: Standing = Standing.CLEAR  # against the new limit

    @property
    def is_over(self) -> bool:
        return self.limit is not None and self.used > self.limit

    @property
    def percent(self) -> int | None:
        return self.used * 100 // self.limit if self.limit else None

    @property
    def old_percent(self) -> int | None:
        return self.used * 100 // self.old_limit if self.old_limit else None


@dataclass(frozen=True)
class MetricImpact:
    """What one changed limit does to the workspaces on the plan.

    A tightened limit lists the workspaces over it or within 80 % of it; a loosened one lists
    the workspaces it frees: blocked, over or near the old limit and better off under the
    new one. Counts are over all of them; ``rows`` are one page of them, the most affected
    first."""

    metric: str
    name: str
    unit: str
    old_limit: int | None
    new_limit: int | None
    old_enforcement: str | None
    new_enforcement: str | None
    loosens: bool
    counted: int  # workspaces on the plan whose limit comes from the plan
    overridden: int  # workspaces on the plan with an active override for the metric
    over: int  # used > new limit
    near: int  # used >= 80 % of the new limit, not over
    was_affected: int  # loosened: blocked, over or within 80 % of the old limit
    freed: int  # loosened: of those, the ones better off under the new limit
    rows: tuple[ImpactRow, ...]  # one page of the listed workspaces
    page: int = 1
    pages: int = 1

    @property
    def affected(self) -> int:
        """The workspaces listed: freed ones for a loosened limit, over or near otherwise."""
        return self.freed if self.loosens else self.over + self.near

    @property
    def now_hard(self) -> bool:
        """Soft before, hard now: what is over the limit will be blocked, not just warned."""
        return self.old_enforcement == Enforcement.SOFT and self.new_enforcement == Enforcement.HARD

    @property
    def now_soft(self) -> bool:
        """Hard before, soft now: what is over the limit is warned, no longer blocked."""
        return self.old_enforcement == Enforcement.HARD and self.new_enforcement == Enforcement.SOFT

    @property
    def first(self) -> int:
        """The position of the page's first row among all listed, from 1."""
        return (self.page - 1) * IMPACT_PAGE_SIZE + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1 if self.rows else 0

    @property
    def summary(self) -> str:
        if self.loosens:
            new = "unlimited" if self.new_limit is None else f"{self.new_limit:,}"
            return (
                f"{self.name}: {self.freed} freed by the new limit of {new}, of "
                f"{self.was_affected} blocked, over or within {NEAR_LIMIT_PERCENT}% of the "
                f"old limit of {self.old_limit:,}"
            )
        return (
            f"{self.name}: {self.over} over, {self.near} within {NEAR_LIMIT_PERCENT}% "
            f"of the new limit of {self.new_limit:,}"
        )


@dataclass(frozen=True)
class LimitImpact:
    """The impact preview of a plan edit: one entry per changed limit that affects anyone
    or could (tightened and loosened), with totals over all the workspaces."""

    metrics: tuple[MetricImpact, ...]
    workspaces_affected: int = 0  # distinct workspaces over or near a tightened limit
    workspaces_freed: int = 0  # distinct workspaces freed by a loosened limit
    held: bool = False  # the save waits for the admin: shown, not yet confirmed

    @property
    def tightened(self) -> tuple[MetricImpact, ...]:
        return tuple(m for m in self.metrics if not m.loosens)

    @property
    def loosened(self) -> tuple[MetricImpact, ...]:
        return tuple(m for m in self.metrics if m.loosens)

    @property
    def needs_confirmation(self) -> bool:
        return any(m.affected for m in self.metrics)

    @property
    def signature(self) -> str:
        """Names the reviewed changes: a confirmation counts only for the limits it was
        given for, not for values edited after the preview was shown."""
        return ";".join(
            f"{m.metric}={'unlimited' if m.new_limit is None else m.new_limit}:"
            f"{m.new_enforcement or '-'}"
            for m in self.metrics
        )

    @property
    def summary(self) -> str:
        return "; ".join(m.summary for m in self.metrics if m.affected)


def limit_change_impact(
    *,
    plan: Plan,
    changes: list[LimitChange],
    pages: Mapping[str, int | str] | None = None,
    now: datetime | None = None,
) -> LimitImpact:
    """For the workspaces on ``plan`` without an active override of the metric, what each
    changed limit does: for a tightened one, how many use more than the new limit and how
    many are within 80 % of it; for a loosened one, how many it frees. Lists them
    ``IMPACT_PAGE_SIZE`` at a time, the page of each metric chosen by ``pages``.

    Set-based, whatever the number of workspaces: one query for the subscribers, one for
    their overrides, the usage of each metric for all of them at once, and one for the names
    of the workspaces on the pages shown."""
    now = now or timezone.now()
    pages = pages or {}
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
    affected: set[int] = set()
    freed_anywhere: set[int] = set()
    for change in changes:
        key, limit = change.metric.key, change.new_limit
        counted = [w for w in subscribers if (w, key) not in overridden]
        usage = usage_by_workspace(metric=key, workspace_ids=counted, now=now) if counted else {}
        after = {w: _standing(used, limit, change.new_enforcement) for w, used in usage.items()}
        over = [(w, used) for w, used in usage.items() if limit is not None and used > limit]
        near = [
            (w, used)
            for w, used in usage.items()
            if limit is not None and used <= limit and limit_is_near(used, limit)
        ]
        before = {
            w: _standing(used, change.old_limit, change.old_enforcement)
            for w, used in usage.items()
        }
        was_affected, freed = [], []
        if change.loosens:
            was_affected = [w for w, standing in before.items() if standing > Standing.CLEAR]
            freed = [(w, usage[w]) for w in was_affected if after[w] < before[w]]
            listed = sorted(freed, key=_by_usage)
            freed_anywhere.update(w for w, _ in freed)
        else:
            listed = sorted(over, key=_by_usage) + sorted(near, key=_by_usage)
            affected.update(w for w, _ in listed)
        page = Paginator(listed, IMPACT_PAGE_SIZE).get_page(pages.get(key))
        impacts.append(
            MetricImpact(
                metric=key,
                name=change.metric.name,
                unit=change.metric.unit,
                old_limit=change.old_limit,
                new_limit=limit,
                old_enforcement=change.old_enforcement,
                new_enforcement=change.new_enforcement,
                loosens=change.loosens,
                counted=len(counted),
                overridden=len(subscribers) - len(counted),
                over=len(over),
                near=len(near),
                was_affected=len(was_affected),
                freed=len(freed),
                rows=tuple(
                    ImpactRow(
                        workspace_id=w,
                        name="",
                        slug="",
                        used=used,
                        limit=limit,
                        old_limit=change.old_limit,
                        before=before[w],
                        after=after[w],
                    )
                    for w, used in page.object_list
                ),
                page=page.number,
                pages=page.paginator.num_pages,
            )
        )

    # Names only for the rows shown, in one query for all metrics.
    shown = {r.workspace_id for impact in impacts for r in impact.rows}
    names = {
        pk: {"name": name, "slug": slug}
        for pk, name, slug in Workspace.objects.filter(pk__in=shown).values_list(
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
        ),
        workspaces_affected=len(affected),
        workspaces_freed=len(freed_anywhere),
    )


def _by_usage(row: tuple[int, int]) -> tuple[int, int]:
    workspace_id, used = row
    return -used, workspace_id


class PlanLimitFormSet(LabelledInlineFormSet):
    """The limits of a plan. A change of a limit that affects the plan's subscribers is
    first previewed (``self.impact``): tightening one that some use more than, or 80 % of
    it or more; loosening one that frees some (blocked, over or near the old limit). Nothing
    is saved until the admin confirms the changes previewed."""

    row_noun = "limit"
    impact: LimitImpact | None = None

    def row_name(self, form: forms.ModelForm) -> str | None:
        return form.instance.metric.name if form.instance.metric_id else None

    def limit_changes(self) -> list[LimitChange]:
        """The limits this save makes tighter or looser, from the validated forms, by metric.
        A removed limit row, or an emptied limit, is unlimited."""
        before = {
            form.initial["metric"]: (form.initial.get("limit"), form.initial.get("enforcement"))
            for form in self.initial_forms
            if form.initial.get("metric")
        }
        after, metrics = {}, {}
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            metric = data.get("metric")
            if metric is None or (self.can_delete and data.get("DELETE")):
                continue
            after[metric.key] = (data.get("limit"), data.get("enforcement"))
            metrics[metric.key] = metric
        if gone := before.keys() - metrics.keys():  # rows removed or moved to another metric
            metrics |= Metric.objects.in_bulk(gone, field_name="key")
        changes = [
            LimitChange(
                metric=metrics[key],
                old_limit=old[0],
                new_limit=new[0],
                old_enforcement=old[1],
                new_enforcement=new[1],
            )
            for key in sorted(before.keys() | after.keys())
            if (old := before.get(key, (None, None))) != (new := after.get(key, (None, None)))
        ]
        return [change for change in changes if change.tightens or change.loosens]

    def pages_requested(self, changes: list[LimitChange]) -> dict[str, str]:
        """The page of each metric's list being looked at: kept in hidden fields, moved by
        the pager buttons (``<metric>:<page>``)."""
        pages = {
            change.metric.key: self.data.get(f"{IMPACT_PAGE_FIELD}_{change.metric.key}", "1")
            for change in changes
        }
        metric, _, page = self.data.get(IMPACT_PAGE_FIELD, "").partition(":")
        if metric in pages:
            pages[metric] = page
        return pages

    def clean(self) -> None:
        super().clean()
        if self.instance.pk is None or any(self.errors):
            return  # a new plan has no subscribers; fix the other errors first
        changes = self.limit_changes()
        if not changes:
            return
        impact = limit_change_impact(
            plan=self.instance, changes=changes, pages=self.pages_requested(changes)
        )
        paging = IMPACT_PAGE_FIELD in self.data  # looking through the list, not saving
        confirmed = not paging and self.data.get(CONFIRM_IMPACT_FIELD) == impact.signature
        held = paging or (impact.needs_confirmation and not confirmed)
        self.impact = replace(impact, held=held)
        if held:
            raise ValidationError(
                f"These limit changes affect workspaces on this plan ({impact.summary}). "
                "Nothing has been saved yet: review the impact at the top of the page and "
                "confirm it.",
                code=IMPACT_STEP,
            )


def without_impact_step(errors: ErrorList) -> ErrorList:
    """``errors`` without the one that holds a save for the impact preview: that is a step
    of the edit, shown as the preview, not an error to correct."""
    shown = ErrorList(
        [
            error
            for error in errors.data
            if not (isinstance(error, ValidationError) and error.code == IMPACT_STEP)
        ],
        renderer=errors.renderer,
    )
    shown.error_class = errors.error_class
    return shown


class PlanFeatureFormSet(LabelledInlineFormSet):
    row_noun = "feature"

    def row_name(self, form: forms.ModelForm) -> str | None:
        return form.instance.feature.name if form.instance.feature_id else None


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
