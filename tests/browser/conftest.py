"""Browser tests: Debian's chromium, driven by Playwright, against pytest-django's live server.

The data comes from the project's own services (tests/factories.py); people are logged in by
giving the browser the session cookie of a real log-in. Nothing is skipped: without chromium
the tests fail and say how to get it.
"""

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connections
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from accounts import services as accounts_services
from accounts.models import ApiKey, Invitation, Membership, Role, User, Workspace
from accounts.roles import BILLING_ADMINS, SALES, SALES_MANAGERS
from billing import services as billing_services
from billing.models import Plan, Price
from billing.stripe.local import LocalGateway
from pql.models import Lead
from pql.scoring import Component, ScoreResult
from pql.services import leads_sync, scoring_model_published
from tests.factories import UserFactory, WorkspaceFactory, add_member

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
CARD_OK = "4242 4242 4242 4242"


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One chromium for all browser tests. Package-scoped rather than session-scoped: its
    event loop must be gone before the rest of the suite runs (see below)."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"The browser tests drive Debian's chromium at {CHROMIUM}, which is missing. "
            "Install it with `apt-get install chromium` (scripts/test_services.py does so when "
            "run as root); Playwright's own browser downloads are not used.",
            pytrace=False,
        )
    # Playwright's sync API keeps an asyncio event loop running in this thread while the
    # browser is open, and Django refuses ORM calls from a thread with a running loop. The
    # tests only call the ORM between browser steps, never concurrently with the loop, which
    # is the case Django's documented escape hatch exists for; it is lifted on the way out.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    # While a loop runs, Django also keeps its database connections per context instead of
    # per thread: the tests would get fresh connections, without the test database's saved
    # contents that serialized rollback restores. They keep using this thread's own.
    own_connections = {alias: connections[alias] for alias in connections}
    try:
        with sync_playwright() as playwright:
            for alias, connection in own_connections.items():
                connections[alias] = connection
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


OpenPage = Callable[..., Page]


@pytest.fixture
def open_page(browser: Browser, live_server) -> Iterator[OpenPage]:
    """``open_page(path, user=None, viewport=DESKTOP, javascript=True)``: a new browser
    context, logged in as ``user`` if given, showing ``path`` of the live server."""
    contexts = []

    def open_(
        path: str,
        *,
        user: User | None = None,
        viewport: ViewportSize = DESKTOP,
        javascript: bool = True,
    ) -> Page:
        context = browser.new_context(
            base_url=live_server.url, viewport=viewport, java_script_enabled=javascript
        )
        contexts.append(context)
        if user is not None:
            context.add_cookies([_session_cookie(user, live_server.url)])
        page = context.new_page()
        page.goto(path)
        page.wait_for_load_state("networkidle")
        return page

    yield open_
    for context in contexts:
        context.close()


def _session_cookie(user: User, url: str) -> dict:
    """The session cookie of a real log-in of ``user``."""
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return {"name": name, "value": client.cookies[name].value, "url": url}


@dataclass
class Scenario:
    """A paying workspace with a teammate, an invitation, an API key and a project; a second
    workspace of the same owner half-way through checkout; a sales rep and a billing admin."""

    owner: User
    workspace: Workspace
    teammate: Membership
    invitation: Invitation
    api_key: ApiKey
    checkout_session: str
    plan: Plan
    rep: User
    billing_admin: User
    manager: User
    lead_id: int

    def user(self, who: str) -> User | None:
        return {"anonymous": None, "owner": self.owner, "teammate": self.teammate.user}.get(
            who, getattr(self, who, None)
        )

    def path(self, template: str) -> str:
        """A page's path: ``template`` with {workspace}, {checkout} and {plan} filled in."""
        return template.format(
            workspace=self.workspace.slug,
            checkout=self.checkout_session,
            plan=self.plan.pk,
            lead=self.lead_id,
        )


def build_scenario(
    *,
    workspace_name: str = "Northwind",
    teammate_email: str = "ann@northwind.io",
    invited_email: str = "bob@northwind.io",
    key_name: str = "Production",
    project_name: str = "Website",
) -> Scenario:
    """Everything through the project's services; the local gateway's webhooks reach the
    live server (``HANDOFF_SITE_URL`` must point at it)."""
    owner = UserFactory(email="owner@northwind.io", full_name="Olivia Owner")
    workspace = WorkspaceFactory(name=workspace_name, created_by=owner)
    teammate = add_member(workspace, teammate_email, role=Role.ADMIN)
    invitation, _ = accounts_services.invitation_create(
        workspace=workspace, email=invited_email, actor=owner
    )
    api_key, _ = accounts_services.api_key_create(workspace=workspace, name=key_name, actor=owner)
    accounts_services.project_create(workspace=workspace, name=project_name, actor=owner)
    pro = Price.objects.get(plan__code="pro", interval="month", currency="usd", is_active=True)
    _pay(billing_services.checkout_start(workspace=workspace, price=pro, seats=5, actor=owner))
    second = WorkspaceFactory(name="Northwind Labs", created_by=owner)
    pending = billing_services.checkout_start(workspace=second, price=pro, seats=1, actor=owner)
    return Scenario(
        owner=owner,
        workspace=workspace,
        teammate=teammate,
        invitation=invitation,
        api_key=api_key,
        checkout_session=_session_id(pending),
        plan=pro.plan,
        rep=_staff("rep@handoff.test", SALES),
        billing_admin=_staff("billing@handoff.test", BILLING_ADMINS),
        manager=_staff("manager@handoff.test", SALES, SALES_MANAGERS),
        lead_id=open_lead(workspace),
    )


def _session_id(checkout_url: str) -> str:
    return urlsplit(checkout_url).path.rstrip("/").rsplit("/", 1)[-1]


def _pay(checkout_url: str) -> None:
    LocalGateway().checkout_complete(session_id=_session_id(checkout_url), card_number=CARD_OK)


def _staff(email: str, *groups: str) -> User:
    user = UserFactory(email=email, is_staff=True)
    for group in groups:
        user.groups.add(Group.objects.get(name=group))
    return user


def open_lead(workspace: Workspace, *, engagement: int = 72) -> int:
    """An open upgrade lead for the workspace, opened the way the scoring job opens one."""
    reasons = (
        Component("usage_share", "engagement", 92, 20, "uses 92% of 10,000 API calls"),
        Component("active_people_7d", "engagement", 5, 15, "5 active people in the last 7 days"),
    )
    result = ScoreResult(60, engagement, True, "upgrade", reasons, idle_days=1)
    leads_sync(
        results={workspace.pk: result},
        mrr={workspace.pk: 0},
        now=timezone.now() - timedelta(days=2),
        model=scoring_model_published(),
    )
    return Lead.objects.get(workspace=workspace, closed_at__isnull=True).pk


@pytest.fixture
def live_site(live_server, settings):
    """The live server, with links and the local gateway's webhooks pointing at it. (Tests
    that use it are marked ``django_db(transaction=True, serialized_rollback=True)``: the
    server's thread sees committed data only, and the plans the migrations create survive.)"""
    settings.HANDOFF_SITE_URL = live_server.url
    return live_server


@pytest.fixture
def scenario(live_site) -> Scenario:
    return build_scenario()
