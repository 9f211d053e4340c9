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

from dataclasses import replace
from datetime import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.forms.models import BaseInlineFormSet
from django.forms.utils import ErrorList
from django.utils import timezone
from django.utils.functional import cached_property

from billing.models import Plan, Price, Subscription, WorkspaceOverride
from billing.selectors import LimitChange, LimitImpact, limit_change_impact
from usage.models import Metric

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
# The code of the formset error that holds a save until the preview is confirmed. The admin
# shows it as the preview step, not as an error to correct.
IMPACT_STEP = "impact_not_confirmed"


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
