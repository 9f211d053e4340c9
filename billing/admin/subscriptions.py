"""Django admin for subscriptions: staff view them; billing admins move a workspace that is
not billed through Stripe to another plan, through ``subscription_set_plan``."""

from django.contrib import admin
from django.http import HttpRequest

from billing.admin.forms import SubscriptionAdminForm
from billing.admin.seats import seats_granted_beyond_paid
from billing.models import Subscription
from billing.services import subscription_set_plan


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    """Subscriptions mirror Stripe and are created by services: staff view them; billing
    admins move a workspace that is not billed through Stripe to another plan."""

    form = SubscriptionAdminForm
    list_display = ["workspace", "plan", "status", "seats", "price"]
    list_select_related = ["workspace", "plan", "price__plan"]
    list_filter = ["status", "plan"]
    search_fields = ["workspace__name", "workspace__slug", "stripe_subscription_id"]
    readonly_fields = [
        "workspace",
        "price",
        "seats",
        "seats_beyond_paid",
        "status",
        "stripe_customer_id",
        "stripe_subscription_id",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_fields(self, request: HttpRequest, obj: Subscription | None = None):
        movable = self.has_change_permission(request, obj) and not self._billed_by_stripe(obj)
        return [
            "workspace",
            "plan",
            *(["reason"] if movable else []),
            "price",
            "seats",
            "seats_beyond_paid",
            "status",
            "stripe_customer_id",
            "stripe_subscription_id",
            "created_at",
            "updated_at",
        ]

    @admin.display(description="Seats beyond those paid")
    def seats_beyond_paid(self, obj: Subscription) -> str:
        return seats_granted_beyond_paid(obj.workspace_id) or "—"

    def get_readonly_fields(self, request: HttpRequest, obj: Subscription | None = None):
        readonly = list(super().get_readonly_fields(request, obj))
        if self._billed_by_stripe(obj):
            readonly.append("plan")  # Stripe owns it: change it there or through checkout
        return readonly

    @staticmethod
    def _billed_by_stripe(obj: Subscription | None) -> bool:
        return obj is not None and bool(obj.stripe_subscription_id)

    def save_model(self, request: HttpRequest, obj: Subscription, form, change: bool) -> None:
        if "plan" not in form.changed_data:
            return
        subscription_set_plan(
            workspace=obj.workspace,
            plan=form.cleaned_data["plan"],
            actor=request.user,
            reason=form.cleaned_data.get("reason", ""),
        )
        obj.refresh_from_db()
