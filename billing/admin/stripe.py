"""Django admin for what Stripe sends and what it leaves behind: the webhook events (with a
replay of the failed ones, and a warning about events refused for their API version), the
revenue ledger and the invoices (read-only: the ledger is
append-only and both are written only by the webhook handlers), and the billing settings
billing admins edit.

Registered by ``billing.admin``.
"""

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models.fields.json import KeyTextTransform
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from billing.models import BillingSettings, Invoice, RevenueMovement, StripeEvent
from billing.stripe.client import API_VERSION
from billing.stripe.handlers import HANDLERS
from billing.stripe.processing import UNSUPPORTED_VERSION, event_version_problem
from billing.stripe.webhooks import stripe_event_enqueue
from billing.templatetags.money import money

ERROR_SHOWN = 120


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable by whoever has the view permission; never added, changed or deleted here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class RefusedVersionFilter(admin.SimpleListFilter):
    title = "refused for its API version"
    parameter_name = "refused"

    def lookups(self, request, model_admin):
        return [("api_version", "Unsupported Stripe API version")]

    def queryset(self, request, queryset):
        if self.value() == "api_version":
            return queryset.filter(
                status=StripeEvent.Status.FAILED, error__startswith=UNSUPPORTED_VERSION
            )
        return queryset


@admin.register(StripeEvent)
class StripeEventAdmin(admin.ModelAdmin):
    """Every webhook received. Read-only, except the "Replay" action (change permission):
    failed events go back to pending and are queued again. Events refused for the API
    version they are rendered in raise a warning above the list."""

    list_display = [
        "stripe_id",
        "type",
        "status",
        "created",
        "api_version",
        "attempts",
        "short_error",
    ]
    list_filter = ["status", RefusedVersionFilter, "type"]
    search_fields = ["stripe_id", "type"]
    date_hierarchy = "created"
    ordering = ["-created", "-id"]
    actions = ["replay"]
    fields = [
        "stripe_id",
        "type",
        "status",
        "created",
        "received_at",
        "processed_at",
        "attempts",
        "error",
        "payload_pretty",
    ]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest):
        queryset = super().get_queryset(request)
        # The list never shows the payload: do not load every event's JSON for it.
        if request.resolver_match and request.resolver_match.url_name.endswith("changelist"):
            queryset = queryset.defer("payload")
        return queryset.annotate(rendered_in=KeyTextTransform("api_version", "payload"))

    def changelist_view(self, request: HttpRequest, extra_context=None):
        refused = StripeEvent.objects.filter(
            status=StripeEvent.Status.FAILED, error__startswith=UNSUPPORTED_VERSION
        ).count()
        if refused and request.method == "GET":
            self.message_user(
                request,
                format_html(
                    "{} event(s) were refused: Stripe rendered them in an API version Handoff "
                    "does not read, so nothing of them was applied. Create the webhook "
                    "endpoint with API version {} (README, “Going live on Stripe”), then run "
                    "<code>manage.py reconcile_stripe</code>. "
                    '<a href="?refused=api_version">Show them</a>.',
                    refused,
                    API_VERSION,
                ),
                messages.WARNING,
            )
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        # The change permission only lets someone replay from the list; an event itself
        # is never edited.
        return obj is None and super().has_change_permission(request, obj)

    @admin.display(description="API version")
    def api_version(self, obj: StripeEvent) -> str:
        version = getattr(obj, "rendered_in", None)
        if obj.type in HANDLERS and event_version_problem(version):
            return format_html(
                '<strong class="errornote-inline">⚠ {} (not supported)</strong>',
                version or "none",
            )
        return version or "—"

    @admin.display(description="error or reason skipped")
    def short_error(self, obj: StripeEvent) -> str:
        if len(obj.error) <= ERROR_SHOWN:
            return obj.error
        return obj.error[: ERROR_SHOWN - 1] + "…"

    @admin.display(description="payload")
    def payload_pretty(self, obj: StripeEvent) -> str:
        return format_html(
            "<pre style='white-space: pre-wrap'>{}</pre>", json.dumps(obj.payload, indent=2)
        )

    @admin.action(description="Replay the selected failed events", permissions=["change"])
    def replay(self, request: HttpRequest, queryset) -> None:
        ids = list(queryset.filter(status=StripeEvent.Status.FAILED).values_list("pk", flat=True))
        with transaction.atomic():
            replayed = list(
                StripeEvent.objects.select_for_update()
                .filter(pk__in=ids, status=StripeEvent.Status.FAILED)
                .order_by("created", "id")
            )
            StripeEvent.objects.filter(pk__in=[event.pk for event in replayed]).update(
                status=StripeEvent.Status.PENDING
            )
            for event in replayed:
                self.log_change(request, event, "Replayed: back to pending and queued again.")
                transaction.on_commit(lambda pk=event.pk: stripe_event_enqueue(pk), robust=True)
        left = queryset.count() - len(replayed)
        if replayed:
            self.message_user(
                request, f"{len(replayed)} failed event(s) queued again.", messages.SUCCESS
            )
        if left:
            self.message_user(
                request,
                f"{left} event(s) were not failed and are left as they are.",
                messages.WARNING,
            )


@admin.register(RevenueMovement)
class RevenueMovementAdmin(ReadOnlyAdmin):
    """The append-only MRR ledger: one row per change of a workspace's MRR."""

    list_display = [
        "occurred_at",
        "workspace",
        "kind",
        "delta",
        "after",
        "plan_code",
        "stripe_event",
    ]
    list_filter = ["kind", "currency", "plan_code"]
    list_select_related = ["workspace", "stripe_event"]
    search_fields = ["workspace__name", "workspace__slug", "stripe_event__stripe_id"]
    date_hierarchy = "occurred_at"

    @admin.display(description="MRR change", ordering="mrr_delta_cents")
    def delta(self, obj: RevenueMovement) -> str:
        sign = "+" if obj.mrr_delta_cents > 0 else ""
        return sign + money(obj.mrr_delta_cents, obj.currency)

    @admin.display(description="MRR after", ordering="mrr_after_cents")
    def after(self, obj: RevenueMovement) -> str:
        return money(obj.mrr_after_cents, obj.currency)


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    """Invoices mirrored from Stripe."""

    list_display = ["__str__", "workspace", "status", "amount_due", "amount_paid", "created"]
    list_filter = ["status", "currency"]
    list_select_related = ["workspace"]
    search_fields = ["stripe_id", "number", "workspace__name", "workspace__slug"]
    date_hierarchy = "created"

    @admin.display(description="amount due", ordering="amount_due_cents")
    def amount_due(self, obj: Invoice) -> str:
        return money(obj.amount_due_cents, obj.currency)

    @admin.display(description="amount paid", ordering="amount_paid_cents")
    def amount_paid(self, obj: Invoice) -> str:
        return money(obj.amount_paid_cents, obj.currency)


@admin.register(BillingSettings)
class BillingSettingsAdmin(admin.ModelAdmin):
    """The one row of billing settings; the list goes straight to it."""

    fields = ["grace_period_days", "updated_at"]
    readonly_fields = ["updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_object(self, request: HttpRequest, object_id: str, from_field=None):
        """The one row, its defaults until first saved (opening the page writes nothing)."""
        return BillingSettings.load() if str(object_id) == "1" else None

    def changelist_view(self, request: HttpRequest, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        settings_row = BillingSettings.load()
        return HttpResponseRedirect(
            reverse("admin:billing_billingsettings_change", args=[settings_row.pk])
        )
