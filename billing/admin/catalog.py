"""Django admin for the catalog: billing admins edit plans with their prices, limits and
features (a plan edit, inlines included, is recorded as one ``plan.changed`` event with what
changed before and after, and a changed limit first shows its impact); sales reps view them.
"""

from dataclasses import dataclass

from django.contrib import admin
from django.db.models import Count
from django.http import HttpRequest

from accounts.models import AuditEvent
from billing.admin.forms import (
    CONFIRM_IMPACT_FIELD,
    IMPACT_PAGE_FIELD,
    PlanFeatureFormSet,
    PlanLimitFormSet,
    PriceAdminForm,
    PriceFormSet,
    without_impact_step,
)
from billing.models import Feature, Plan, PlanFeature, PlanLimit, Price
from billing.services import plan_change_record, plan_snapshot
from usage.current import NEAR_LIMIT_PERCENT

HISTORY_SHOWN = 50


class PriceInline(admin.TabularInline):
    """Prices are never deleted (subscriptions refer to them) and their terms never change
    once saved: deactivate a price and add a new one."""

    model = Price
    form = PriceAdminForm
    formset = PriceFormSet
    fields = ["interval", "amount_cents", "currency", "scheme", "is_active", "stripe_price_id"]
    extra = 0
    can_delete = False
    template = "admin/billing/plan/price_inline.html"


class PlanLimitInline(admin.TabularInline):
    """Changing a limit shows its impact on the plan's subscribers before it is saved."""

    model = PlanLimit
    formset = PlanLimitFormSet
    fields = ["metric", "limit", "enforcement"]
    extra = 0
    template = "admin/billing/plan/limit_inline.html"

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("metric")  # names the rows


class PlanFeatureInline(admin.TabularInline):
    model = PlanFeature
    formset = PlanFeatureFormSet
    fields = ["feature", "enabled"]
    extra = 0
    template = "admin/billing/plan/feature_inline.html"

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("feature")  # names the rows


@dataclass(frozen=True)
class HistoryChange:
    label: str
    before: str
    after: str


@dataclass(frozen=True)
class HistoryEntry:
    event: AuditEvent
    changes: tuple[HistoryChange, ...]


def _show(value: object) -> str:
    if value is None:
        return "unlimited"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict) and "limit" in value:  # a limit: {"limit": 3, "enforcement": …}
        return f"{_show(value['limit'])} ({value.get('enforcement', '')})"
    return str(value)


def audit_changes(before: dict, after: dict) -> tuple[HistoryChange, ...]:
    """A plan audit event as lines of "what: before → after". Limits and features are
    shown one metric or feature at a time, prices as the ones removed and added."""
    missing = "—"
    changes = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        label = key.replace("_", " ")
        if isinstance(old, dict) or isinstance(new, dict):
            old, new = old or {}, new or {}
            for sub in sorted(old.keys() | new.keys()):
                if old.get(sub) != new.get(sub):
                    changes.append(
                        HistoryChange(
                            f"{label}: {sub}",
                            _show(old[sub]) if sub in old else missing,
                            _show(new[sub]) if sub in new else missing,
                        )
                    )
        elif isinstance(old, list) or isinstance(new, list):
            removed = [p for p in old or [] if p not in (new or [])]
            added = [p for p in new or [] if p not in (old or [])]
            changes.append(
                HistoryChange(label, ", ".join(removed) or missing, ", ".join(added) or missing)
            )
        else:
            changes.append(
                HistoryChange(
                    label,
                    _show(old) if key in before else missing,
                    _show(new) if key in after else missing,
                )
            )
    return tuple(changes)


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    """Billing admins edit plans with their prices, limits and features; sales reps view them.

    The change form (``templates/admin/billing/plan/change_form.html``) adds the impact
    preview of changed limits, as a step before the save rather than as an error, and the
    plan's audit history."""

    list_display = [
        "code",
        "name",
        "tier_rank",
        "is_public",
        "is_default_free",
        "status",
        "subscriber_count",
    ]
    list_filter = ["status", "is_public"]
    search_fields = ["code", "name"]
    ordering = ["tier_rank", "code"]
    fieldsets = [
        (None, {"fields": ["code", "name", "description"]}),
        ("In the catalog", {"fields": ["tier_rank", "is_public", "is_default_free", "status"]}),
        ("Sign-up", {"fields": ["trial_days"]}),
    ]
    inlines = [PriceInline, PlanLimitInline, PlanFeatureInline]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(subscriber_count=Count("subscriptions"))

    @admin.display(description="Subscribers", ordering="subscriber_count")
    def subscriber_count(self, plan: Plan) -> int:
        return plan.subscriber_count

    def get_readonly_fields(self, request: HttpRequest, obj: Plan | None = None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            # The code names the plan in links, Stripe metadata and its audit history.
            readonly.append("code")
        return readonly

    def save_model(self, request: HttpRequest, obj: Plan, form, change: bool) -> None:
        # The form has already put the new values on ``obj``; read the plan as it stands
        # in the database, before anything of this save is written.
        form.audit_before = plan_snapshot(Plan.objects.get(pk=obj.pk)) if change else {}
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        plan_change_record(plan=form.instance, actor=request.user, before=form.audit_before)

    def render_change_form(
        self, request: HttpRequest, context, add=False, change=False, form_url="", obj=None
    ):
        context["limit_impact"] = next(
            (
                inline.formset.impact
                for inline in context.get("inline_admin_formsets", [])
                if getattr(inline.formset, "impact", None) is not None
            ),
            None,
        )
        if context.get("errors"):
            # The preview holds the save with a formset error; it is not one to correct.
            context["errors"] = without_impact_step(context["errors"])
        context["confirm_impact_field"] = CONFIRM_IMPACT_FIELD
        context["impact_page_field"] = IMPACT_PAGE_FIELD
        context["near_limit_percent"] = NEAR_LIMIT_PERCENT
        if obj is not None and obj.pk is not None:
            context["plan_history"] = self.history(obj)
            context["can_view_audit_log"] = request.user.has_perm("accounts.view_auditevent")
        return super().render_change_form(request, context, add, change, form_url, obj)

    def history(self, plan: Plan) -> list[HistoryEntry]:
        """The plan's audit events, newest first."""
        events = AuditEvent.objects.filter(subject=f"plan:{plan.code}").select_related("actor")
        return [
            HistoryEntry(event, audit_changes(event.before, event.after))
            for event in events[:HISTORY_SHOWN]
        ]


@admin.register(Feature)
class FeatureAdmin(admin.ModelAdmin):
    list_display = ["key", "name", "description"]
    search_fields = ["key", "name"]

    def get_readonly_fields(self, request: HttpRequest, obj: Feature | None = None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            readonly.append("key")  # the code and the plans' features name it
        return readonly


# One workspace -----------------------------------------------------------------------------
