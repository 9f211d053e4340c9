"""The access matrix: every URL pattern (the Django admin included) by every role, the status
each cell answers, asserted; and every GET cell checked to write nothing.

Each row of ``MATRIX`` holds eleven statuses, one per role in ``ROLES``' order (the column
heads above the table), for a GET and for an empty POST (JSON ``{}`` on the API). ``L`` is a
redirect to a log-in page; any other cell is the status code. The admin's pages for each
registered model follow from ``ADMIN_MODELS``: which of view / add / change / delete each
staff role holds there. ``test_every_url_pattern_has_a_row`` fails for a URL pattern (or an
admin model) that has none, and for a row whose URL is gone.

Every URL points at workspace A's things (tests/access_world.py); the owner of workspace B
gets 404 wherever A's workspace is named (an API key opens no page: it is sent to log in;
the API itself never takes a workspace in its address). The world is built once for the
module; each cell runs in a savepoint rolled back after it, so no cell sees another's writes.
A GET cell also compares PostgreSQL's per-transaction write counters
(``pg_stat_xact_user_tables``) before and after the request: a GET writes nothing but the
few bookkeeping rows ``GET_WRITES_ALLOWED`` names.
"""

import re
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.cache import cache
from django.db import connection, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from billing import entitlements
from tests.access_world import (
    ADMIN,
    BILLING,
    KEY,
    MANAGER,
    OTHER_KEY,
    OTHER_OWNER,
    OWNER,
    REP,
    ROLES,
    STAFF,
    World,
    world_build,
)
from usage import current, selectors

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Built once for the module, inside a transaction rolled back after its last test (each
    test's own transaction nests in it as a savepoint)."""
    with django_db_blocker.unblock(), transaction.atomic():
        built = world_build()
        yield built
        transaction.set_rollback(True)


# Running one cell ---------------------------------------------------------------------------

WRITES_SQL = """
    SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_xact_user_tables
    WHERE n_tup_ins + n_tup_upd + n_tup_del > 0
"""


def _writes() -> dict[str, tuple[int, int, int]]:
    """Rows this transaction inserted, updated and deleted so far, per table."""
    with connection.cursor() as cursor:
        cursor.execute(WRITES_SQL)
        return {name: (ins, upd, dels) for name, ins, upd, dels in cursor.fetchall()}


def _caches_clear() -> None:
    cache.clear()
    entitlements.clear_local_cache()
    current.clear_local_cache()
    selectors.activation_clear_local_cache()


@pytest.fixture(scope="module")
def clients(world) -> dict[str, Client]:
    """One test client per role, logged in (or carrying its key) once for the module."""
    return {role: world.login(Client(raise_request_exception=False), role) for role in ROLES}


@dataclass(frozen=True)
class Answer:
    status: str  # "L" for a redirect to a log-in page, else the code
    wrote: tuple[str, ...] = ()  # the tables a GET wrote to


def _status(response) -> str:
    location = response.get("Location", "") if response.status_code == 302 else ""
    if location.startswith(("/login/", "/admin/login/")):
        return "L"
    return str(response.status_code)


def ask(client: Client, method: str, url: str) -> Answer:
    """One cell: the request in a savepoint rolled back after it, the client's cookies as they
    were before it (a log-out or a message does not carry over to the next cell)."""
    cookies = client.cookies
    client.cookies = type(cookies)(cookies)
    try:
        with transaction.atomic():
            before = _writes() if method == "get" else {}
            if method == "get":
                response = client.get(url)
            elif url.startswith("/api/"):
                response = client.post(url, data="{}", content_type="application/json")
            else:
                response = client.post(url)
            after = _writes() if method == "get" else {}
            transaction.set_rollback(True)
    finally:
        client.cookies = cookies
    if method != "get":
        _caches_clear()  # nothing cached from what was rolled back
    return Answer(_status(response), tuple(sorted(t for t in after if after[t] != before.get(t))))


# The URL patterns -----------------------------------------------------------------------------


def _patterns(resolver: URLResolver, prefix: str = "", namespace: str = "") -> list[tuple]:
    """(route, name with its namespace or None) of every pattern under ``resolver``."""
    found = []
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            found += _patterns(entry, route, inner)
        elif isinstance(entry, URLPattern):
            found.append((route, f"{namespace}{entry.name}" if entry.name else None))
    return found


ADMIN_VIEWS = ("changelist", "add", "change", "delete", "history")


def _admin_model_of(route: str, name: str | None) -> str | None:
    """The registered model ("app_label.model_name") whose standard admin page this is."""
    for model in admin.site._registry:
        label, model_name = model._meta.app_label, model._meta.model_name
        standard = {f"admin:{label}_{model_name}_{view}" for view in ADMIN_VIEWS}
        if name in standard or (
            name is None and route == f"admin/{label}/{model_name}/<path:object_id>/"
        ):
            return f"{label}.{model_name}"
    return None


def url_rows() -> set[str]:
    """The key each pattern needs in ``MATRIX``: its name, or its route when it has none;
    the admin's standard pages of registered models are left to ``ADMIN_MODELS``."""
    return {
        name or route
        for route, name in _patterns(get_resolver())
        if _admin_model_of(route, name) is None
    }


def admin_models() -> set[str]:
    return {f"{m._meta.app_label}.{m._meta.model_name}" for m in admin.site._registry}


KWARGS_OF = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>")


def url_of(key: str, world: World, row: "Row") -> str:
    if row.path is not None:
        return row.path.format(**world.ids)
    route = next(route for route, name in _patterns(get_resolver()) if key in (name, route))
    names = [a or b for a, b in KWARGS_OF.findall(route)]
    values = {"workspace_slug": world.workspace.slug, **world.ids}
    aliases = row.kwargs or {}
    return reverse(key, kwargs={name: values[aliases.get(name, name)] for name in names})


@dataclass(frozen=True)
class Row:
    get: str
    post: str
    kwargs: dict[str, str] | None = None  # URL kwarg -> the World.ids key it takes, if not its own
    path: str | None = None  # for a pattern without a name: the path, formatted with World.ids


# The matrix ------------------------------------------------------------------------------------

# The writes a GET may make. An API key's last use is recorded at most once a minute
# (accounts.services.api_keys). A paywall the owner or an admin runs into is recorded as a
# product event (once a day per person and feature, tests/usage/test_paywall_hits.py): the
# scoring reads it as buying intent.
KEY_USE = {"accounts_apikey"}
PAYWALL_HIT = {"usage_productevent", "usage_producteventdaily", "usage_activepersonday"}
GET_WRITES_ALLOWED = {
    ("*", KEY): KEY_USE,
    ("*", OTHER_KEY): KEY_USE,
    ("workspace_audit_log", OWNER): PAYWALL_HIT,
    ("workspace_audit_log", ADMIN): PAYWALL_HIT,
}

MATRIX: dict[str, Row] = {
    # GET, then POST, by:  anonymous, member, admin, owner, owner of another workspace,
    # sales rep, sales manager, billing admin, staff in no group, API key, another's API key
    "admin/(?P<url>.*)$": Row(
        "  L   L   L   L   L 404 404 404 404   L   L",
        "  L   L   L   L   L 404 404 404 404   L   L",
        path="/admin/nowhere/",
    ),
    "admin:app_list": Row(
        "  L   L   L   L   L 200 200 200 404   L   L",
        "  L   L   L   L   L 200 200 200 404   L   L",
    ),
    "admin:auth_user_password_change": Row(
        "  L   L   L   L   L 403 403 403 403   L   L",
        "  L   L   L   L   L 403 403 403 403   L   L",
        kwargs={"id": "user_id"},
    ),
    "admin:autocomplete": Row(
        "  L   L   L   L   L 403 403 403 403   L   L",
        "  L   L   L   L   L 405 405 405 405   L   L",
    ),
    "admin:index": Row(
        "  L   L   L   L   L 200 200 200 200   L   L",
        "  L   L   L   L   L 200 200 200 200   L   L",
    ),
    "admin:jsi18n": Row(
        "  L   L   L   L   L 200 200 200 200   L   L",
        "  L   L   L   L   L 405 405 405 405   L   L",
    ),
    "admin:login": Row(
        "200 200 200 200 200 302 302 302 302 200 200",
        "200 200 200 200 200 200 200 200 200 200 200",
    ),
    "admin:logout": Row(
        "302 302 302 302 302 405 405 405 405 302 302",
        "302 302 302 302 302   L   L   L   L 302 302",
    ),
    "admin:password_change": Row(
        "  L   L   L   L   L 200 200 200 200   L   L",
        "  L   L   L   L   L 200 200 200 200   L   L",
    ),
    "admin:password_change_done": Row(
        "  L   L   L   L   L 200 200 200 200   L   L",
        "  L   L   L   L   L 405 405 405 405   L   L",
    ),
    "admin:pql_scoringmodel_backtest": Row(
        "  L   L   L   L   L 200 200 200 403   L   L",
        "  L   L   L   L   L 405 405 405 405   L   L",
        kwargs={"object_id": "scoring_model_id"},
    ),
    "admin:view_on_site": Row(
        "  L   L   L   L   L 404 404 404 404   L   L",
        "  L   L   L   L   L 404 404 404 404   L   L",
        kwargs={"object_id": "workspace_id"},
    ),
    "api_docs": Row(
        "200 200 200 200 200 200 200 200 200 200 200",
        "405 405 405 405 405 405 405 405 405 405 405",
    ),
    "api_entitlements": Row(
        "401 401 401 401 401 401 401 401 401 200 200",
        "401 401 401 401 401 401 401 401 401 405 405",
    ),
    "api_pql_assign": Row(
        "403 403 403 403 403 405 405 403 403 403 403",
        "403 403 403 403 403 403 400 403 403 403 403",
    ),
    "api_pql_claim": Row(
        "403 403 403 403 403 405 405 403 403 403 403",
        "403 403 403 403 403 200 200 403 403 403 403",
    ),
    "api_pql_contacts": Row(
        "403 403 403 403 403 405 405 403 403 403 403",
        "403 403 403 403 403 400 400 403 403 403 403",
    ),
    "api_pql_lead": Row(
        "403 403 403 403 403 200 200 403 403 403 403",
        "403 403 403 403 403 405 405 403 403 403 403",
    ),
    "api_pql_leads": Row(
        "403 403 403 403 403 200 200 403 403 403 403",
        "403 403 403 403 403 405 405 403 403 403 403",
    ),
    "api_pql_notes": Row(
        "403 403 403 403 403 405 405 403 403 403 403",
        "403 403 403 403 403 400 400 403 403 403 403",
    ),
    "api_pql_release": Row(
        "403 403 403 403 403 405 405 403 403 403 403",
        "403 403 403 403 403 200 200 403 403 403 403",
    ),
    "api_pql_status": Row(
        "403 403 403 403 403 405 405 403 403 403 403",
        "403 403 403 403 403 400 400 403 403 403 403",
    ),
    "api_product_events": Row(
        "401 401 401 401 401 401 401 401 401 405 405",
        "401 401 401 401 401 401 401 401 401 400 400",
    ),
    "api_schema": Row(
        "200 200 200 200 200 200 200 200 200 200 200",
        "405 405 405 405 405 405 405 405 405 405 405",
    ),
    "api_usage_events": Row(
        "401 401 401 401 401 401 401 401 401 405 405",
        "401 401 401 401 401 401 401 401 401 400 400",
    ),
    "api_workspace": Row(
        "401 401 401 401 401 401 401 401 401 200 200",
        "401 401 401 401 401 401 401 401 401 405 405",
    ),
    "favicon": Row(
        "302 302 302 302 302 302 302 302 302 302 302",
        "405 405 405 405 405 405 405 405 405 405 405",
    ),
    "healthz": Row(
        "200 200 200 200 200 200 200 200 200 200 200",
        "405 405 405 405 405 405 405 405 405 405 405",
    ),
    "home": Row(
        "302 302 302 302 302 200 200 200 200 302 302",
        "405 405 405 405 405 405 405 405 405 405 405",
    ),
    "invitation_accept": Row(
        "200 200 200 200 200 200 200 200 200 200 200",
        "400 403 403 403 403 403 403 403 403 400 400",
    ),
    "local_checkout": Row(
        "  L 404 200 200 404 404 404 404 404   L   L",
        "  L 404 400 400 404 404 404 404 404   L   L",
    ),
    "local_clock": Row(
        "  L 404 404 404 404 200 200 200 200   L   L",
        "  L 404 404 404 404 302 302 302 302   L   L",
    ),
    "local_invoice": Row(
        "  L 404 200 200 404 404 404 404 404   L   L",
        "  L 405 405 405 405 405 405 405 405   L   L",
    ),
    "local_portal": Row(
        "  L 404 200 200 404 404 404 404 404   L   L",
        "  L 404 400 400 404 404 404 404 404   L   L",
    ),
    "login": Row(
        "200 200 200 200 200 200 200 200 200 200 200",
        "200 200 200 200 200 200 200 200 200 200 200",
    ),
    "logout": Row(
        "405 405 405 405 405 405 405 405 405 405 405",
        "  L   L   L   L   L   L   L   L   L   L   L",
    ),
    "metrics_cancellations": Row(
        "  L 403 403 403 403 200 200 200 403   L   L",
        "  L 405 405 405 405 405 405 405 405   L   L",
    ),
    "metrics_customers": Row(
        "  L 403 403 403 403 200 200 200 403   L   L",
        "  L 405 405 405 405 405 405 405 405   L   L",
    ),
    "metrics_dashboard": Row(
        "  L 403 403 403 403 200 200 200 403   L   L",
        "  L 405 405 405 405 405 405 405 405   L   L",
    ),
    "metrics_export": Row(
        "  L 403 403 403 403 200 200 200 403   L   L",
        "  L 405 405 405 405 405 405 405 405   L   L",
    ),
    "metrics_leads": Row(
        "  L 403 403 403 403 200 200 200 403   L   L",
        "  L 405 405 405 405 405 405 405 405   L   L",
    ),
    "metrics_movements": Row(
        "  L 403 403 403 403 200 200 200 403   L   L",
        "  L 405 405 405 405 405 405 405 405   L   L",
    ),
    "metrics_people": Row(
        "  L 403 403 403 403 200 200 200 403   L   L",
        "  L 405 405 405 405 405 405 405 405   L   L",
    ),
    "metrics_workspaces": Row(
        "  L 403 403 403 403 200 200 200 403   L   L",
        "  L 405 405 405 405 405 405 405 405   L   L",
    ),
    "notification_templates": Row(
        "  L 403 403 403 403 403 403 200 403   L   L",
        "405 405 405 405 405 405 405 405 405 405 405",
    ),
    "notifications_unsubscribe": Row(
        "200 200 200 200 200 200 200 200 200 200 200",
        "200 200 200 200 200 200 200 200 200 200 200",
        kwargs={"token": "unsubscribe_token"},
    ),
    "outbound_delivery": Row(
        "  L 403 403 403 403 403 200 403 403   L   L",
        "405 405 405 405 405 405 405 405 405 405 405",
    ),
    "outbound_delivery_redeliver": Row(
        "405 405 405 405 405 405 405 405 405 405 405",
        "  L 403 403 403 403 403 409 403 403   L   L",
    ),
    "outbound_endpoint": Row(
        "  L 403 403 403 403 403 200 403 403   L   L",
        "  L 403 403 403 403 403 400 403 403   L   L",
    ),
    "outbound_endpoint_create": Row(
        "405 405 405 405 405 405 405 405 405 405 405",
        "  L 403 403 403 403 403 400 403 403   L   L",
    ),
    "outbound_endpoint_delete": Row(
        "405 405 405 405 405 405 405 405 405 405 405",
        "  L 403 403 403 403 403 302 403 403   L   L",
    ),
    "outbound_endpoint_ping": Row(
        "405 405 405 405 405 405 405 405 405 405 405",
        "  L 403 403 403 403 403 302 403 403   L   L",
    ),
    "outbound_endpoint_secret_roll": Row(
        "405 405 405 405 405 405 405 405 405 405 405",
        "  L 403 403 403 403 403 200 403 403   L   L",
    ),
    "outbound_integrations": Row(
        "  L 403 403 403 403 403 200 403 403   L   L",
        "405 405 405 405 405 405 405 405 405 405 405",
    ),
    "outbound_slack_remove": Row(
        "405 405 405 405 405 405 405 405 405 405 405",
        "  L 403 403 403 403 403 302 403 403   L   L",
    ),
    "outbound_slack_save": Row(
        "405 405 405 405 405 405 405 405 405 405 405",
        "  L 403 403 403 403 403 400 403 403   L   L",
    ),
    "password_change": Row(
        "  L 200 200 200 200 200 200 200 200   L   L",
        "  L 200 200 200 200 200 200 200 200   L   L",
    ),
    "password_change_done": Row(
        "  L 200 200 200 200 200 200 200 200   L   L",
        "  L 405 405 405 405 405 405 405 405   L   L",
    ),
    "password_reset": Row(
        "200 200 200 200 200 200 200 200 200 200 200",
        "200 200 200 200 200 200 200 200 200 200 200",
    ),
    "password_reset_complete": Row(
        "200 200 200 200 200 200 200 200 200 200 200",
        "405 405 405 405 405 405 405 405 405 405 405",
    ),
    "password_reset_confirm": Row(
        "200 200 200 200 200 200 200 200 200 200 200",
        "200 200 200 200 200 200 200 200 200 200 200",
        kwargs={"token": "reset_token"},
    ),
    "password_reset_done": Row(
        "200 200 200 200 200 200 200 200 200 200 200",
        "405 405 405 405 405 405 405 405 405 405 405",
    ),
    "pricing": Row(
        "200 200 200 200 200 200 200 200 200 200 200",
        "405 405 405 405 405 405 405 405 405 405 405",
    ),
    "profile": Row(
        "  L 200 200 200 200 200 200 200 200   L   L",
        "  L 400 400 400 400 400 400 400 400   L   L",
    ),
    "sales_bulk": Row(
        "  L 403 403 403 403 403 405 403 403   L   L",
        "  L 403 403 403 403 403 302 403 403   L   L",
    ),
    "sales_export": Row(
        "  L 403 403 403 403 200 200 403 403   L   L",
        "  L 403 403 403 403 405 405 403 403   L   L",
    ),
    "sales_lead": Row(
        "  L 403 403 403 403 200 200 403 403   L   L",
        "  L 403 403 403 403 405 405 403 403   L   L",
    ),
    "sales_lead_assign": Row(
        "  L 403 403 403 403 403 405 403 403   L   L",
        "  L 403 403 403 403 403 302 403 403   L   L",
    ),
    "sales_lead_claim": Row(
        "  L 403 403 403 403 405 405 403 403   L   L",
        "  L 403 403 403 403 302 302 403 403   L   L",
    ),
    "sales_lead_contact": Row(
        "  L 403 403 403 403 405 405 403 403   L   L",
        "  L 403 403 403 403 400 400 403 403   L   L",
    ),
    "sales_lead_note": Row(
        "  L 403 403 403 403 405 405 403 403   L   L",
        "  L 403 403 403 403 400 400 403 403   L   L",
    ),
    "sales_lead_release": Row(
        "  L 403 403 403 403 405 405 403 403   L   L",
        "  L 403 403 403 403 302 302 403 403   L   L",
    ),
    "sales_lead_snooze": Row(
        "  L 403 403 403 403 405 405 403 403   L   L",
        "  L 403 403 403 403 409 302 403 403   L   L",
    ),
    "sales_lead_status": Row(
        "  L 403 403 403 403 405 405 403 403   L   L",
        "  L 403 403 403 403 400 400 403 403   L   L",
    ),
    "sales_queue": Row(
        "  L 403 403 403 403 200 200 403 403   L   L",
        "  L 403 403 403 403 405 405 403 403   L   L",
    ),
    "sales_settings": Row(
        "  L 403 403 403 403 403 200 403 403   L   L",
        "  L 403 403 403 403 403 400 403 403   L   L",
    ),
    "sales_view_delete": Row(
        "  L 403 403 403 403 405 405 403 403   L   L",
        "  L 403 403 403 403 302 404 403 403   L   L",
    ),
    "sales_view_save": Row(
        "  L 403 403 403 403 405 405 403 403   L   L",
        "  L 403 403 403 403 302 302 403 403   L   L",
    ),
    "signup": Row(
        "200 302 302 302 302 302 302 302 302 200 200",
        "400 302 302 302 302 302 302 302 302 400 400",
    ),
    "stripe_webhook": Row(
        "405 405 405 405 405 405 405 405 405 405 405",
        "415 415 415 415 415 415 415 415 415 415 415",
    ),
    "workspace_api_key_create": Row(
        "405 405 405 405 405 405 405 405 405 405 405",
        "  L 400 400 400 404 404 404 404 404   L   L",
    ),
    "workspace_api_key_revoke": Row(
        "405 405 405 405 405 405 405 405 405 405 405",
        "  L 403 302 302 404 404 404 404 404   L   L",
    ),
    "workspace_api_keys": Row(
        "  L 200 200 200 404 404 404 404 404   L   L",
        "405 405 405 405 405 405 405 405 405 405 405",
    ),
    "workspace_audit_log": Row(
        "  L 403 402 402 404 404 404 404 404   L   L",
        "405 405 405 405 405 405 405 405 405 405 405",
    ),
    "workspace_billing": Row(
        "  L 200 200 200 404 404 404 404 404   L   L",
        "405 405 405 405 405 405 405 405 405 405 405",
    ),
    "workspace_billing_cancel": Row(
        "405 405 405 405 405 405 405 405 405 405 405",
        "  L 403 400 400 404 404 404 404 404   L   L",
    ),
    "workspace_billing_change": Row(
        "  L 403 400 400 404 404 404 404 404   L   L",
        "  L 403 400 400 404 404 404 404 404   L   L",
    ),
    "workspace_billing_checkout": Row(
        "405 405 405 405 405 405 405 405 405 405 405",
        "  L 403 400 400 404 404 404 404 404   L   L",
    ),
    "workspace_billing_portal": Row(
        "405 405 405 405 405 405 405 405 405 405 405",
        "  L 403 302 302 404 404 404 404 404   L   L",
    ),
    "workspace_billing_resume": Row(
        "405 405 405 405 405 405 405 405 405 405 405",
        "  L 403 409 409 404 404 404 404 404   L   L",
    ),
    "workspace_billing_return": Row(
        "  L 200 200 200 404 404 404 404 404   L   L",
        "405 405 405 405 405 405 405 405 405 405 405",
    ),
    "workspace_billing_status": Row(
        "  L 200 200 200 404 404 404 404 404   L   L",
        "405 405 405 405 405 405 405 405 405 405 405",
    ),
    "workspace_delete": Row(
        "  L 403 200 200 404 404 404 404 404   L   L",
        "  L 403 400 400 404 404 404 404 404   L   L",
    ),
    "workspace_invitation_resend": Row(
        "405 405 405 405 405 405 405 405 405 405 405",
        "  L 403 302 302 404 404 404 404 404   L   L",
    ),
    "workspace_invitation_revoke": Row(
        "405 405 405 405 405 405 405 405 405 405 405",
        "  L 403 302 302 404 404 404 404 404   L   L",
    ),
    "workspace_invite": Row(
        "405 405 405 405 405 405 405 405 405 405 405",
        "  L 400 400 400 404 404 404 404 404   L   L",
    ),
    "workspace_member_remove": Row(
        "405 405 405 405 405 405 405 405 405 405 405",
        "  L 302 302 302 404 404 404 404 404   L   L",
    ),
    "workspace_member_role": Row(
        "405 405 405 405 405 405 405 405 405 405 405",
        "  L 400 400 400 404 404 404 404 404   L   L",
    ),
    "workspace_members": Row(
        "  L 200 200 200 404 404 404 404 404   L   L",
        "405 405 405 405 405 405 405 405 405 405 405",
    ),
    "workspace_new": Row(
        "  L 200 200 200 200 200 200 200 200   L   L",
        "  L 400 400 400 400 400 400 400 400   L   L",
    ),
    "workspace_notice_dismiss": Row(
        "405 405 405 405 405 405 405 405 405 405 405",
        "  L 404 404 302 404 404 404 404 404   L   L",
    ),
    "workspace_notification_preferences": Row(
        "405 405 405 405 405 405 405 405 405 405 405",
        "  L 404 302 302 404 404 404 404 404   L   L",
    ),
    "workspace_notifications": Row(
        "  L 403 200 200 404 404 404 404 404   L   L",
        "405 405 405 405 405 405 405 405 405 405 405",
    ),
    "workspace_onboarding": Row(
        "  L 200 200 200 404 404 404 404 404   L   L",
        "405 405 405 405 405 405 405 405 405 405 405",
    ),
    "workspace_plan": Row(
        "  L 200 200 200 404 404 404 404 404   L   L",
        "405 405 405 405 405 405 405 405 405 405 405",
    ),
    "workspace_project_create": Row(
        "405 405 405 405 405 405 405 405 405 405 405",
        "  L 400 400 400 404 404 404 404 404   L   L",
    ),
    "workspace_project_delete": Row(
        "  L 403 200 200 404 404 404 404 404   L   L",
        "  L 403 302 302 404 404 404 404 404   L   L",
    ),
    "workspace_project_rename": Row(
        "  L 200 200 200 404 404 404 404 404   L   L",
        "  L 400 400 400 404 404 404 404 404   L   L",
    ),
    "workspace_projects": Row(
        "  L 200 200 200 404 404 404 404 404   L   L",
        "405 405 405 405 405 405 405 405 405 405 405",
    ),
    "workspace_settings": Row(
        "  L 403 200 200 404 404 404 404 404   L   L",
        "  L 403 400 400 404 404 404 404 404   L   L",
    ),
    "workspace_usage": Row(
        "  L 200 200 200 404 404 404 404 404   L   L",
        "405 405 405 405 405 405 405 405 405 405 405",
    ),
    "workspace_welcome": Row(
        "  L 302 200 200 404 404 404 404 404   L   L",
        "  L 302 400 400 404 404 404 404 404   L   L",
    ),
}


# Who may do what in the admin: for each registered model, what each staff role holds there
# ("v"iew, "a"dd, "c"hange, "d"elete; "-" nothing), in the order of ADMIN_ROLES. Everyone
# else (anonymous, workspace people, API keys) is sent to the admin's log-in.
ADMIN_ROLES = (REP, MANAGER, BILLING, STAFF)
ADMIN_MODELS: dict[str, str] = {
    #                              sales rep  manager  billing admin  staff in no group
    "accounts.apikey": "           -          -        -              -",
    "accounts.auditevent": "       -          -        v              -",
    "accounts.invitation": "       v          v        -              -",
    "accounts.user": "             -          -        -              -",
    "accounts.workspace": "        v          v        v              -",
    "auth.group": "                -          -        -              -",
    # django-axes' log-in failures and lock-outs: superusers only (they lift a lock-out there).
    "axes.accessattempt": "        -          -        -              -",
    "axes.accessfailurelog": "     -          -        -              -",
    "axes.accesslog": "            -          -        -              -",
    "billing.billingsettings": "   -          -        vc             -",
    "billing.feature": "           v          v        vac            -",
    "billing.invoice": "           -          -        v              -",
    "billing.plan": "              v          v        vac            -",
    "billing.revenuemovement": "   v          v        v              -",
    "billing.stripeevent": "       -          -        v              -",
    "billing.subscription": "      v          v        vc             -",
    "billing.workspaceoverride": " vacd       vacd     vacd           -",
    "metrics.exchangerate": "      -          -        vacd           -",
    "metrics.metricssettings": "   -          -        vc             -",
    "notifications.alertthreshold": "-        -        vacd           -",
    "notifications.notification": "-          -        v              -",
    "notifications.usagealert": "  -          -        v              -",
    "pql.lead": "                  v          v        -              -",
    "pql.score": "                 v          v        v              -",
    "pql.scoringmodel": "          v          v        vac            -",
    "pql.scoringrun": "            -          -        v              -",
    "usage.activationrule": "      v          v        vc             -",
    "usage.metric": "              v          v        v              -",
    "usage.productevent": "        v          v        v              -",
}


def admin_expected(model: str, role: str, view: str, method: str) -> str:
    """The status the admin's ``view`` page of ``model`` answers ``role``."""
    if role not in ADMIN_ROLES:
        return "L"
    held = ADMIN_MODELS[model].split()[ADMIN_ROLES.index(role)]
    needs = {
        ("get", "changelist"): "vc",
        ("get", "add"): "a",
        ("get", "change"): "vc",
        ("get", "delete"): "d",
        ("get", "history"): "vc",
        ("get", "object"): "",  # a redirect to the change page, for all staff
        ("post", "add"): "a",
        ("post", "change"): "c",
        ("post", "delete"): "d",
    }[method, view]
    if not needs:
        return "302"
    if not set(needs) & set(held):
        return "403"
    return "302" if (model, view, method) in ADMIN_REDIRECTS else "200"


# Admin pages that answer those who may use them with a redirect: the list of the one row of
# settings goes straight to it; a subscription Stripe manages has no field to fill in (its
# plan is read-only), so an empty form saves and goes back to the list.
ADMIN_REDIRECTS = {
    ("billing.billingsettings", "changelist", "get"),
    ("billing.subscription", "change", "post"),
}
# Singletons that have no row until first saved (their page shows the defaults).
ADMIN_SINGLETONS = {"billing.billingsettings": 1}


ADMIN_CELLS = [
    ("get", "changelist"),
    ("get", "add"),
    ("get", "change"),
    ("get", "delete"),
    ("get", "history"),
    ("get", "object"),
    ("post", "add"),
    ("post", "change"),
    ("post", "delete"),
]


def _admin_url(model_label: str, view: str, pk) -> str:
    label, name = model_label.split(".")
    if view == "object":
        return f"/admin/{label}/{name}/{pk}/"
    if view in ("changelist", "add"):
        return reverse(f"admin:{label}_{name}_{view}")
    return reverse(f"admin:{label}_{name}_{view}", args=[pk])


# The tests --------------------------------------------------------------------------------------


def _problems(answer: Answer, expected: str, method: str, role: str, key: str = "") -> list[str]:
    found = []
    if answer.status != expected:
        found.append(f"{method.upper()} as {role}: {answer.status}, expected {expected}")
    allowed = GET_WRITES_ALLOWED.get(("*", role), set()) | GET_WRITES_ALLOWED.get(
        (key, role), set()
    )
    wrote = set(answer.wrote) - allowed
    if wrote:
        found.append(f"GET as {role} wrote to {', '.join(sorted(wrote))}")
    return found


@pytest.mark.parametrize("key", sorted(MATRIX))
def test_every_role_gets_the_status_of_its_cell_and_a_get_writes_nothing(world, clients, key):
    row = MATRIX[key]
    url = url_of(key, world, row)
    problems = []
    for method, cells in (("get", row.get), ("post", row.post)):
        for role, expected in zip(ROLES, cells.split(), strict=True):
            problems += _problems(ask(clients[role], method, url), expected, method, role, key)
    assert not problems, f"{url}:\n" + "\n".join(problems)


@pytest.mark.parametrize("model_label", sorted(ADMIN_MODELS))
def test_every_role_gets_what_its_admin_permissions_allow(world, clients, model_label):
    model = apps.get_model(model_label)
    obj = model.objects.order_by("pk").first()
    pk = obj.pk if obj is not None else ADMIN_SINGLETONS.get(model_label)
    assert pk is not None, f"The world (tests/access_world.py) needs a {model_label}"
    problems = []
    for method, view in ADMIN_CELLS:
        url = _admin_url(model_label, view, pk)
        for role in ROLES:
            expected = admin_expected(model_label, role, view, method)
            answer = ask(clients[role], method, url)
            problems += _problems(answer, expected, method, f"{role} on {view}")
    assert not problems, f"{model_label}:\n" + "\n".join(problems)


def test_every_url_pattern_has_a_row():
    patterns, models = url_rows(), admin_models()

    assert (patterns, models) == (set(MATRIX), set(ADMIN_MODELS)), (
        "Give each new URL a row in MATRIX, each model registered in the admin a row in "
        "ADMIN_MODELS (tests/test_access_matrix.py): "
        f"URLs without a row {sorted(patterns - set(MATRIX))}, "
        f"rows without a URL {sorted(set(MATRIX) - patterns)}, "
        f"admin models without a row {sorted(models - set(ADMIN_MODELS))}, "
        f"rows without an admin model {sorted(set(ADMIN_MODELS) - models)}"
    )


def test_the_owner_of_another_workspace_gets_404_on_every_url_of_this_one():
    scoped = {name for route, name in _patterns(get_resolver()) if "workspace_slug" in route}
    column = ROLES.index(OTHER_OWNER)

    # 404, or 405 for a method the URL never takes (answered before anyone is looked at).
    refused = {
        name
        for name in scoped
        if {MATRIX[name].get.split()[column], MATRIX[name].post.split()[column]} <= {"404", "405"}
        and "404" in (MATRIX[name].get.split()[column], MATRIX[name].post.split()[column])
    }

    assert refused == scoped
