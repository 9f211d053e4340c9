"""The offline gateway's stand-ins for Stripe's hosted pages: Checkout, the customer portal,
hosted invoices, and a staff-only tool to move test clocks. All answer 404 unless the
offline gateway serves billing (not on Stripe, nor where billing is not configured), and
each checks that the user manages the workspace the Stripe object belongs
to (``accounts.selectors``' tenancy rule)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from accounts import selectors as accounts_selectors
from accounts.models import Membership
from billing.selfserve_forms import CardForm
from billing.stripe.client import StripeRefused
from billing.stripe.interface import demo_billing_active
from billing.stripe.local.delivery import local_event_deliver
from billing.stripe.local.gateway import LocalGateway


def _local_gateway():
    """The local gateway, or 404 unless offline demo billing serves this installation."""
    if not demo_billing_active():
        raise Http404("There is no local gateway: billing does not run offline here.")
    return LocalGateway()


def _local_membership(request: HttpRequest, workspace_id: str | int | None) -> Membership:
    """The user's owner or admin membership of the workspace a local object belongs to; 404
    otherwise (nothing leaks about other workspaces' billing)."""
    membership = accounts_selectors.workspace_membership_get_for_id(
        user=request.user, workspace_id=workspace_id
    )
    if not membership.can_manage:
        raise Http404("No such billing object.")
    return membership


def _workspace_of(obj: dict) -> str | None:
    return (obj.get("metadata") or {}).get("workspace_id")


@login_required
@require_http_methods(["GET", "POST"])
def local_checkout(request: HttpRequest, session_id: str) -> HttpResponse:
    """Stripe Checkout, offline: the plan, seats, the amount and a card field for the
    documented test cards. Paying completes the session and sends its webhooks, then
    returns to the session's success URL."""
    local = _local_gateway()
    try:
        session = local.checkout_session(session_id)
    except StripeRefused as exc:
        raise Http404(exc.message) from exc
    membership = _local_membership(request, _workspace_of(session.data))
    price, quantity = local.checkout_session_price(session)
    form = CardForm(request.POST or None)
    status = 200
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            completed = local.checkout_complete(
                session_id=session_id, card_number=form.cleaned_data["card_number"]
            )
        except StripeRefused as exc:
            form.add_error("card_number", exc.message)
            status = exc.status
        else:
            url = completed["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)
            return redirect(url)
    elif request.method == "POST":
        status = 400
    if session.data["status"] != "open":
        error = f"This checkout is {session.data['status']}."
        status = 409 if request.method == "POST" else status
    context = {
        "session": session.data,
        "workspace_name": membership.workspace.name,
        "price": price,
        "quantity": quantity,
        "amount_cents": price.amount_cents * quantity,
        "trial_days": (session.private.get("subscription_data") or {}).get("trial_period_days"),
        "form": form,
        "error": error,
    }
    return render(request, "billing/local/checkout.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def local_portal(request: HttpRequest, customer_id: str) -> HttpResponse:
    """Stripe's Customer Portal, offline: the customer's subscriptions and invoices, and
    "replace card" (which retries unpaid invoices: a past-due subscription recovers)."""
    local = _local_gateway()
    try:
        customer = local.customer(customer_id)
    except StripeRefused as exc:
        raise Http404(exc.message) from exc
    membership = _local_membership(request, _workspace_of(customer.data))
    session_id = request.GET.get("session", "")
    form = CardForm(request.POST or None, initial={"card_number": ""})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                sent = local.card_replace(
                    customer_id=customer_id, card_number=form.cleaned_data["card_number"]
                )
            except StripeRefused as exc:
                form.add_error("card_number", exc.message)
                status = exc.status
            else:
                paid = sent.count("invoice.paid")
                failed = sent.count("invoice.payment_failed")
                note = "Card replaced."
                if paid:
                    note += f" {paid} unpaid invoice{'s' if paid != 1 else ''} paid."
                if failed:
                    note += f" {failed} invoice{'s' if failed != 1 else ''} still failed."
                messages.success(request, note)
                return redirect(request.get_full_path())
        else:
            status = 400
    context = {
        "customer": customer.data,
        "card_last4": customer.private.get("card_last4"),
        "workspace_name": membership.workspace.name,
        "subscriptions": local.customer_subscriptions(customer_id),
        "invoices": local.customer_invoices(customer_id),
        "return_url": local.portal_return_url(session_id, customer_id)
        or reverse("workspace_billing", kwargs={"workspace_slug": membership.workspace.slug}),
        "form": form,
    }
    return render(request, "billing/local/portal.html", context, status=status)


@login_required
@require_GET
def local_invoice(request: HttpRequest, invoice_id: str) -> HttpResponse:
    """Stripe's hosted invoice page, offline."""
    local = _local_gateway()
    try:
        invoice = local.invoice(invoice_id)
    except StripeRefused as exc:
        raise Http404(exc.message) from exc
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    membership = _local_membership(request, _workspace_of(details))
    return render(
        request,
        "billing/local/invoice.html",
        {"invoice": invoice, "workspace_name": membership.workspace.name},
    )


@login_required
@require_http_methods(["GET", "POST"])
def local_clock(request: HttpRequest) -> HttpResponse:
    """Staff only: simulate time on the local gateway (Stripe's test clocks, simplified).
    "Advance to period end" renews a subscription (``invoice.paid``), ends a trial, or ends
    a subscription set to cancel (``customer.subscription.deleted``); events that could not
    be delivered can be sent again."""
    if not request.user.is_staff:
        raise Http404("Staff only.")
    local = _local_gateway()
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "advance":
            subscription_id = request.POST.get("subscription", "")
            try:
                now = local.clock_advance(subscription_id=subscription_id)
            except StripeRefused as exc:
                messages.error(request, exc.message)
            else:
                messages.success(
                    request, f"{subscription_id}: clock advanced to {now:%Y-%m-%d %H:%M} UTC."
                )
        elif action == "redeliver":
            pending = local.events_pending()
            for event_id in pending:
                local_event_deliver.delay(event_id)
            messages.success(request, f"{len(pending)} pending event(s) sent again.")
        return redirect("local_clock")
    subscriptions = [
        {"data": data, "item": data["items"]["data"][0], "now": local.subscription_now(data["id"])}
        for data in local.subscriptions()
    ]
    context = {"subscriptions": subscriptions, "pending": len(local.events_pending())}
    return render(request, "billing/local/clock.html", context)
