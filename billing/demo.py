"""Billing's part of the demo data (``manage.py seed_demo``): the demo workspaces'
subscriptions, their purchases over the past year, and Acme Analytics on Pro.

Every bulk workspace starts on the free plan (or the plan sales set, Enterprise). The
purchases, plan and seat changes and cancellations of its story (``PlannedWorkspace.story``)
are replayed through the offline gateway's own objects and the real webhook path, so the
mirror, the revenue ledger and ``reconcile_stripe`` agree as they do for real customers:

* **Time.** Each buying workspace's customer is created on a test clock frozen at its first
  purchase (Stripe's test clocks may start in the past), and the clock is advanced to each
  later step and finally to ``now``: renewals, trial ends and cancellations at period end
  run as they fall due, and every event carries the clock's time, so the ledger's movements
  are dated when they happened. This is the only way the history differs from a live one:
  the events were sent during the seeding, stamped with the clock.
* **Delivery.** No server listens while ``seed_demo`` runs (``make run`` starts it
  afterwards), so each event the gateway stores is posted, signed with Stripe's scheme, to
  the webhook endpoint inside this process (Django's own request handler, no socket) and
  processed by the same handlers, at once, before the next step reads the mirror.
"""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.test import Client
from django.urls import reverse

from accounts.demo import PlannedWorkspace
from accounts.models import Workspace
from billing import services
from billing.models import (
    Cancellation,
    LocalStripeObject,
    Plan,
    PlanLimit,
    Price,
    StripeEvent,
    Subscription,
)
from billing.stripe.interface import demo_billing_active
from billing.stripe.local import LocalGateway, event_body, event_delivered
from billing.stripe.local.clock import TRIAL_WILL_END_NOTICE as TRIAL_NOTICE
from billing.stripe.processing import stripe_event_apply
from billing.stripe.signing import signature_header

CARD = "4242 4242 4242 4242"


def acme_plan_seed(workspace: Workspace) -> None:
    """Acme Analytics, the demo owner's workspace, is on Pro (set as sales would)."""
    services.subscription_set_plan(
        workspace=workspace, plan=Plan.objects.get(code="pro"), actor=None, reason="demo data"
    )


def plan_limit_reader() -> Callable[[str, str], int | None]:
    """A plan's limit of a metric by plan code and metric key (None: unlimited), read once:
    the fact usage's demo history is shaped by."""
    limits = {
        (plan_code, metric): limit
        for plan_code, metric, limit in PlanLimit.objects.values_list(
            "plan__code", "metric_id", "limit"
        )
    }
    return lambda plan_code, metric: limits.get((plan_code, metric))


def subscriptions_seed(created: Sequence[tuple[Workspace, PlannedWorkspace]]) -> None:
    """The subscriptions of bulk-inserted demo workspaces as they signed up: free, or the
    plan sales set (``PlannedWorkspace.plan_code``)."""
    plan_ids = dict(Plan.objects.values_list("code", "pk"))
    Subscription.objects.bulk_create(
        Subscription(
            workspace=workspace,
            plan_id=plan_ids[plan.plan_code],
            seats=len(plan.members) if plan.plan_code != "free" else 0,
            created_at=plan.created_at,
        )
        for workspace, plan in created
    )


class _Webhook:
    """Posts the gateway's pending events to the webhook endpoint in this process, signed,
    and processes each one as the Celery task would."""

    def __init__(self) -> None:
        site = urlsplit(settings.HANDOFF_SITE_URL)
        self.client = Client(HTTP_HOST=site.netloc or "127.0.0.1", raise_request_exception=True)
        self.secure = site.scheme == "https"
        self.url = reverse("stripe_webhook")
        self.gateway = LocalGateway()
        # Events up to this row were delivered: each delivery looks only at newer rows.
        self.seen = 0

    def _pending(self) -> list[tuple[int, str]]:
        """The gateway's pending events (``LocalGateway.events_pending``) newer than the
        last delivered, oldest first."""
        rows = LocalStripeObject.objects.filter(
            object="event", pk__gt=self.seen, data__pending_webhooks__gt=0
        )
        return list(rows.order_by("created", "id").values_list("pk", "stripe_id"))

    def deliver(self) -> int:
        sent = 0
        for pk, event_id in self._pending():
            self.seen = max(self.seen, pk)
            body = event_body(event_id)
            if body is None:
                continue
            response = self.client.post(
                self.url,
                body,
                content_type="application/json",
                secure=self.secure,
                HTTP_STRIPE_SIGNATURE=signature_header(body, settings.STRIPE_WEBHOOK_SECRET),
            )
            if response.status_code != 200:
                raise RuntimeError(f"the webhook endpoint refused {event_id}: {response.content}")
            event_delivered(event_id)
            stored = StripeEvent.objects.values_list("pk", flat=True).get(stripe_id=event_id)
            stripe_event_apply(event_id=stored)
            sent += 1
        return sent


def _price(plan_code: str, interval: str) -> Price:
    return Price.objects.select_related("plan").get(
        plan__code=plan_code, interval=interval, currency="usd", is_active=True
    )


def _advance(webhook: _Webhook, subscription_id: str, to: datetime) -> None:
    """Move the customer's clock to ``to``, where the gateway runs what fell due on the way
    (a trial's end, each period's renewal, the end of a cancelled subscription), each event
    stamped with the time it fell due, then deliver them in order. A pending trial notice
    is sent at its own time first."""
    gateway = webhook.gateway
    data = gateway.subscription_retrieve(subscription_id)
    if data["status"] == "trialing" and data["trial_end"]:
        notice = datetime.fromtimestamp(data["trial_end"], tz=UTC) - TRIAL_NOTICE
        if gateway.subscription_now(subscription_id) < notice <= to:
            gateway.clock_advance(subscription_id=subscription_id, to=notice)
            webhook.deliver()
    gateway.clock_advance(subscription_id=subscription_id, to=to)
    webhook.deliver()


def _replay(webhook: _Webhook, workspace: Workspace, plan: PlannedWorkspace, now: datetime):
    gateway = webhook.gateway
    owner = workspace.created_by
    for step in plan.story:
        subscription = Subscription.objects.get(workspace=workspace)
        if subscription.stripe_subscription_id:
            _advance(webhook, subscription.stripe_subscription_id, step.at)
        if step.action == "subscribe":
            url = services.checkout_start(
                workspace=workspace,
                price=_price(step.plan_code, step.interval),
                seats=step.seats,
                actor=owner,
            )
            session_id = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
            first = not subscription.stripe_customer_id
            gateway.checkout_complete(
                session_id=session_id, card_number=CARD, test_clock_at=step.at if first else None
            )
        elif step.action == "change":
            services.subscription_change(
                workspace=workspace,
                price=_price(step.plan_code, step.interval),
                seats=step.seats,
                actor=owner,
            )
        elif step.action == "cancel":
            cancellation = services.subscription_cancel(
                workspace=workspace, reason=step.reason, comment="", actor=owner
            )
            # Asked when the story says (the service stamps the wall clock).
            Cancellation.objects.filter(pk=cancellation.pk).update(requested_at=step.at)
        webhook.deliver()
    subscription = Subscription.objects.get(workspace=workspace)
    _advance(webhook, subscription.stripe_subscription_id, now)


def conversions_seed(
    created: Sequence[tuple[Workspace, PlannedWorkspace]], *, now: datetime
) -> int:
    """Replay the billing story of each newly created demo workspace through the offline
    gateway (see the module's docstring). Nothing without offline demo billing: a real
    Stripe account never gets demo customers. Returns how many workspaces bought a plan."""
    if not demo_billing_active():
        return 0
    webhook = _Webhook()
    webhook.deliver()  # whatever an earlier run left pending
    buyers = [(workspace, plan) for workspace, plan in created if plan.story]
    for workspace, plan in buyers:
        _replay(webhook, workspace, plan, now)
    return len(buyers)
