"""One world for the access matrix (tests/test_access_matrix.py) and the read-only fields
(tests/test_read_only_fields.py): two workspaces, people in every role, and one of each thing a
URL can point at, built through the project's own services.

Every URL of the matrix points at workspace A's things ("Acme"); workspace B ("Globex") only
supplies an owner and an API key from outside. ``ROLES`` names each role the matrix asks
about; ``World.login`` puts a test client in that role.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.auth.models import Group
from django.contrib.auth.tokens import default_token_generator
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts import services
from accounts.models import Role, User, Workspace
from accounts.roles import BILLING_ADMINS, SALES, SALES_MANAGERS
from billing.models import LocalStripeObject, Plan, Price
from billing.services.overrides import override_grant
from billing.stripe.inbox import stripe_event_store
from billing.stripe.local import LocalGateway
from billing.stripe.processing import stripe_event_apply
from metrics.models import ExchangeRate
from notifications.models import Kind, Notification
from notifications.services import notifications_record, usage_alerts_raise
from notifications.unsubscribe import unsubscribe_token
from outbound import services as outbound_services
from pql.models import Lead, SavedView
from pql.scoring import Component, ScoreResult
from pql.services import (
    leads_sync,
    scores_upsert,
    scoring_model_published,
    scoring_run_start,
)
from tests.factories import PASSWORD, UserFactory, add_member, on_plan

ANONYMOUS = "anonymous"
MEMBER = "member"
ADMIN = "admin"
OWNER = "owner"
OTHER_OWNER = "other_owner"  # owner of workspace B
REP = "sales_rep"
MANAGER = "sales_manager"
BILLING = "billing_admin"
STAFF = "staff_no_group"  # is_staff, in no group
KEY = "api_key"  # workspace A's API key, no session
OTHER_KEY = "other_api_key"  # workspace B's API key, no session

ROLES = (ANONYMOUS, MEMBER, ADMIN, OWNER, OTHER_OWNER, REP, MANAGER, BILLING, STAFF, KEY)
ROLES += (OTHER_KEY,)
WORKSPACE_PEOPLE = (MEMBER, ADMIN, OWNER)
SALES_STAFF = (REP, MANAGER)

CARD_OK = "4242 4242 4242 4242"


def _staff(email: str, *groups: str) -> User:
    user = UserFactory(email=email, is_staff=True)
    for name in groups:
        user.groups.add(Group.objects.get(name=name))
    return user


@dataclass
class World:
    workspace: Workspace
    other: Workspace
    users: dict[str, User]
    keys: dict[str, str]  # role -> raw API key
    ids: dict[str, int | str] = field(default_factory=dict)  # URL kwarg -> value

    def login(self, client: Client, role: str) -> Client:
        """``client`` acting in ``role``: logged in, or carrying an API key, or neither."""
        client.logout()
        client.defaults.pop("HTTP_AUTHORIZATION", None)
        if role in self.keys:
            client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {self.keys[role]}"
        elif role in self.users:
            client.force_login(self.users[role])
        return client


def _lead_open(workspace: Workspace) -> Lead:
    reason = Component("usage_share", "engagement", 92, 20, "uses 92% of 10,000 API calls")
    leads_sync(
        results={workspace.pk: ScoreResult(60, 70, True, "upgrade", (reason,), idle_days=1)},
        mrr={workspace.pk: 0},
        now=timezone.now(),
        model=scoring_model_published(),
    )
    return Lead.objects.get(workspace=workspace)


def _notice(workspace: Workspace) -> Notification:
    notifications_record(
        workspace=workspace,
        kind=Kind.USAGE_ALERT,
        dedupe_key="access-matrix",
        cause="a test",
        context={"metric_name": "API calls", "used": 8, "limit": 10, "threshold": 80},
        link="/",
        link_label="Upgrade",
        in_app=True,
    )
    return Notification.objects.get(
        workspace=workspace, channel="in_app", recipient=workspace.created_by
    )


def _local_billing(workspace: Workspace) -> dict[str, str]:
    """An open checkout session of the workspace, and a paid one's customer and invoice (in
    the offline gateway's own table; its webhooks wait for a commit that never comes)."""
    gateway = LocalGateway()
    Plan.objects.filter(code="pro").update(trial_days=0)  # paid at once: MRR on the ledger
    price = Price.objects.filter(plan__code="pro", interval="month", is_active=True).first()
    urls = {
        "success_url": "http://testserver/w/acme/billing/return/?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://testserver/w/acme/billing/",
    }
    start = {"workspace": workspace, "price": price, "seats": 1, "customer_id": ""}
    start["customer_email"] = workspace.created_by.email
    paid = gateway.checkout_start(**start, **urls)
    session = gateway.checkout_complete(session_id=paid.session_id, card_number=CARD_OK)
    open_session = gateway.checkout_start(**start, **urls)
    invoice = gateway.customer_invoices(session["customer"])[0]
    return {
        "session_id": open_session.session_id,
        "customer_id": session["customer"],
        "invoice_id": invoice["id"],
    }


def _admin_rows(*, acme: Workspace, globex: Workspace, billing_admin: User) -> None:
    """One row of each model the admin shows that the rest of the world does not make."""
    # The offline checkout's events, stored and applied as the webhook and its task do: the
    # Stripe events, the invoice and the revenue ledger's first movement.
    for row in LocalStripeObject.objects.filter(object="event").order_by("created", "id"):
        stored = stripe_event_store(event=row.data)
        if stored is not None:
            stripe_event_apply(event_id=stored)
    override_grant(workspace=acme, actor=billing_admin, reason="trial", feature="sso")
    ExchangeRate.objects.create(currency="eur", rate=Decimal("1.08"))
    now = timezone.now()
    run = scoring_run_start(model=scoring_model_published(), now=now, chunk_count=1)
    reason = Component("usage_share", "engagement", 92, 20, "uses 92% of 10,000 API calls")
    result = ScoreResult(60, 70, True, "upgrade", (reason,), idle_days=1)
    scores_upsert(results={acme.pk: result}, run=run, now=now)
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    usage_alerts_raise(
        workspace_id=globex.pk,
        readings=[("api_calls", month, 8_000)],
        cause=lambda name, used, limit: "a test",
    )
    # django-axes' records of log-ins (its own models, written by its own signal handlers).
    seen = {
        "username": "owner@acme.io",
        "ip_address": "192.0.2.1",
        "user_agent": "test",
        "http_accept": "*/*",
        "path_info": "/login/",
    }
    AccessAttempt.objects.create(**seen, get_data="", post_data="", failures_since_start=1)
    AccessFailureLog.objects.create(**seen, locked_out=False)
    AccessLog.objects.create(**seen)


def world_build() -> World:
    owner = UserFactory(email="owner@acme.io")
    acme = on_plan(services.workspace_create(name="Acme", owner=owner), "pro")  # seats
    other_owner = UserFactory(email="owner@globex.io")
    globex = services.workspace_create(name="Globex", owner=other_owner)
    admin = add_member(acme, "admin@acme.io", role=Role.ADMIN).user
    member_ship = add_member(acme, "member@acme.io", role=Role.MEMBER)
    users = {
        OWNER: owner,
        ADMIN: admin,
        MEMBER: member_ship.user,
        OTHER_OWNER: other_owner,
        REP: _staff("rep@handoff.test", SALES),
        MANAGER: _staff("manager@handoff.test", SALES, SALES_MANAGERS),
        BILLING: _staff("billing@handoff.test", BILLING_ADMINS),
        STAFF: _staff("staff@handoff.test"),
    }
    key, raw_key = services.api_key_create(workspace=acme, name="server", actor=owner)
    _, raw_other = services.api_key_create(workspace=globex, name="server", actor=other_owner)
    invitation, token = services.invitation_create(
        workspace=acme, email="invitee@acme.io", actor=owner
    )
    project = services.project_create(workspace=acme, name="Launch", actor=owner)
    view = SavedView.objects.create(owner=users[REP], name="Mine", query="owner=mine")
    with override_settings(DEBUG=True):  # an endpoint on 127.0.0.1 (nothing is sent)
        endpoint, _ = outbound_services.endpoint_create(
            actor=users[MANAGER], url="http://127.0.0.1:9/hooks", event_types=["lead.opened"]
        )
    delivery = outbound_services.endpoint_ping(actor=users[MANAGER], endpoint_id=endpoint.pk)
    local_billing = _local_billing(acme)
    _admin_rows(acme=acme, globex=globex, billing_admin=users[BILLING])
    ids = {
        "membership_id": member_ship.pk,
        "invitation_id": invitation.pk,
        "token": token,
        "api_key_id": key.pk,
        "project_id": project.pk,
        "notification_id": _notice(acme).pk,
        "lead_id": _lead_open(acme).pk,
        "view_id": view.pk,
        "endpoint_id": endpoint.pk,
        "delivery_id": delivery.pk,
        "chart": "revenue",
        "uidb64": urlsafe_base64_encode(force_bytes(member_ship.user.pk)),
        "reset_token": default_token_generator.make_token(member_ship.user),
        "unsubscribe_token": unsubscribe_token(
            user_id=owner.pk, workspace_id=acme.pk, kind=Kind.USAGE_ALERT
        ),
        **local_billing,
        # The admin's own pages.
        "app_label": "billing",
        "content_type_id": ContentType.objects.get_for_model(Workspace).pk,
        "workspace_id": acme.pk,
        "user_id": member_ship.user.pk,
        "scoring_model_id": scoring_model_published().pk,
    }
    return World(acme, globex, users, {KEY: raw_key, OTHER_KEY: raw_other}, ids)


__all__ = ["PASSWORD", "ROLES", "World", "world_build"]
