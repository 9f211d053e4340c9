"""Going live on Stripe: connecting the catalog to Stripe (``manage.py stripe_sync_catalog``)
and checking, through Stripe's API, what a live installation needs (``manage.py
stripe_check``).

The catalog lives in Handoff (plans and prices that billing admins edit); Stripe needs a
product per plan and a price per catalog price. Both are named so that a second run finds
what the first created:

* a plan's product has the id ``handoff_<plan code>`` (Stripe lets the caller choose a
  product's id);
* a catalog price's Stripe price carries the lookup key
  ``handoff_<plan code>_<interval>_<currency>`` — the catalog holds one active price per
  plan, interval and currency, so the key names exactly one. When a catalog price is
  replaced (a new amount: a new price, the old one deactivated), the new Stripe price takes
  the key over from the old one (``transfer_lookup_key``).

A Stripe price is linked to a catalog price only when its amount, currency and interval
agree; one that disagrees is reported and left alone, never reused.

Each step is a ``Finding``: what was found or done, and whether it is a problem. The
commands print them and fail when there is a problem.
"""

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse

from accounts.errors import ApplicationError
from billing.models import Plan, Price
from billing.services import price_stripe_connect
from billing.stripe import client
from billing.stripe.handlers import HANDLED_TYPES
from billing.templatetags.money import money

PREFIX = "handoff_"


@dataclass(frozen=True)
class Finding:
    text: str
    problem: bool = False

    def __str__(self) -> str:
        return f"{'PROBLEM' if self.problem else 'ok'}: {self.text}"


def _ok(text: str) -> Finding:
    return Finding(text)


def _problem(text: str) -> Finding:
    return Finding(text, problem=True)


Report = Callable[[Finding], object]


@contextmanager
def stripe_request_log_quiet(verbosity: int) -> Iterator[None]:
    """Below verbosity 2 the commands print their findings, not the SDK's log line per
    request."""
    logger = logging.getLogger("stripe")
    level = logger.level
    if verbosity < 2:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def catalog_prices() -> QuerySet[Price]:
    """The prices Stripe must sell: the active prices of the plans not archived."""
    return (
        Price.objects.filter(is_active=True, plan__status=Plan.Status.ACTIVE)
        .select_related("plan")
        .order_by("plan__tier_rank", "plan__code", "interval", "currency")
    )


def product_id(plan: Plan) -> str:
    return f"{PREFIX}{plan.code}"


def lookup_key(price: Price) -> str:
    return f"{PREFIX}{price.plan.code}_{price.interval}_{price.currency}"


def _label(price: Price) -> str:
    return f"{price.plan.name} {price.get_interval_display().lower()} {price.currency.upper()}"


def price_disagreements(remote: dict[str, Any], price: Price) -> list[str]:
    """How a Stripe price differs from a catalog price in what it charges: amount, currency,
    interval (every one month or year), per unit and licensed (quantity = seats), active.
    Empty when it can sell the catalog price."""
    problems = []
    currency = remote.get("currency") or ""
    if currency != price.currency:
        problems.append(f"is in {currency.upper()}, the catalog price in {price.currency.upper()}")
    if remote.get("unit_amount") != price.amount_cents:
        charged = remote.get("unit_amount")
        shown = "no fixed amount" if charged is None else money(charged, currency)
        problems.append(
            f"charges {shown} per unit, the catalog {money(price.amount_cents, price.currency)}"
        )
    recurring = remote.get("recurring") or {}
    if remote.get("type") != "recurring" or not recurring:
        problems.append("is a one-time price, not a subscription price")
    else:
        interval, count = recurring.get("interval"), recurring.get("interval_count")
        if interval != price.interval or count != 1:
            every = f"{interval}" if count == 1 else f"{count} {interval}s"
            problems.append(f"bills every {every}, the catalog every {price.interval}")
        if recurring.get("usage_type") != "licensed":
            problems.append("is metered, not billed per seat (licensed)")
    if remote.get("billing_scheme") != "per_unit":
        problems.append("is tiered, not a price per unit")
    if not remote.get("active"):
        problems.append("is archived in Stripe")
    return problems


# stripe_sync_catalog -----------------------------------------------------------------------


def _product_ensure(plan: Plan) -> tuple[str | None, Finding | None]:
    """The plan's product id, creating the product when Stripe has none; a finding when
    something was created or is wrong."""
    pid = product_id(plan)
    product = client.product_retrieve(pid)
    if product is None:
        params: dict[str, Any] = {
            "id": pid,
            "name": plan.name,
            "metadata": {"handoff_plan": plan.code},
        }
        if plan.description:
            params["description"] = plan.description
        client.product_create(params)
        return pid, _ok(f"{plan.name}: created the Stripe product {pid}")
    if not product.get("active"):
        return None, _problem(
            f"{plan.name}: the Stripe product {pid} is archived: unarchive it in Stripe, then "
            "run stripe_sync_catalog again"
        )
    return pid, None


def _price_create(price: Price, *, transfer: bool) -> tuple[str | None, list[Finding]]:
    findings = []
    pid, finding = _product_ensure(price.plan)
    if finding is not None:
        findings.append(finding)
    if pid is None:
        return None, findings
    params: dict[str, Any] = {
        "product": pid,
        "currency": price.currency,
        "unit_amount": price.amount_cents,
        "recurring": {"interval": price.interval, "interval_count": 1, "usage_type": "licensed"},
        "lookup_key": lookup_key(price),
        "nickname": _label(price),
        "metadata": {
            "handoff_price_id": str(price.pk),
            "handoff_plan": price.plan.code,
            "handoff_scheme": price.scheme,
        },
    }
    if transfer:
        params["transfer_lookup_key"] = True
    created = client.price_create(params)
    return created["id"], findings


def _connect(price: Price, stripe_id: str, done: str) -> Finding:
    try:
        price_stripe_connect(price=price, stripe_price_id=stripe_id, actor=None)
    except ApplicationError as exc:
        return _problem(f"{_label(price)}: {exc.message}")
    return _ok(f"{_label(price)}: {done}")


def price_sync(price: Price) -> list[Finding]:
    """Connect one catalog price to its Stripe price: check it when connected already;
    else link the Stripe price its lookup key names when it agrees, or create one."""
    label = _label(price)
    if price.stripe_price_id:
        remote = client.price_retrieve(price.stripe_price_id)
        if remote is None:
            return [_problem(f"{label}: Stripe has no price {price.stripe_price_id}")]
        problems = price_disagreements(remote, price)
        if problems:
            return [_problem(f"{label}: its Stripe price {remote['id']} {'; '.join(problems)}")]
        return [_ok(f"{label}: connected to {price.stripe_price_id}")]

    key = lookup_key(price)
    found = client.prices_by_lookup_key(key)
    if not found:
        stripe_id, findings = _price_create(price, transfer=False)
        if stripe_id is None:
            return findings
        return [*findings, _connect(price, stripe_id, f"created and connected {stripe_id}")]

    remote = found[0]
    owner = Price.objects.select_related("plan").filter(stripe_price_id=remote["id"]).first()
    if owner is not None and owner.pk != price.pk:
        if owner.is_active and owner.plan.status == Plan.Status.ACTIVE:
            return [
                _problem(
                    f"{label}: the lookup key {key} names {remote['id']}, which sells "
                    f"{owner} already"
                )
            ]
        # The price it replaces: the new one takes the lookup key over.
        stripe_id, findings = _price_create(price, transfer=True)
        if stripe_id is None:
            return findings
        done = (
            f"created and connected {stripe_id} (it took the lookup key {key} over from "
            f"{remote['id']}, the price it replaces)"
        )
        return [*findings, _connect(price, stripe_id, done)]

    problems = price_disagreements(remote, price)
    if problems:
        return [
            _problem(
                f"{label}: the Stripe price {remote['id']} (lookup key {key}) "
                f"{'; '.join(problems)}. It is not used: correct the catalog price, or archive "
                "that Stripe price and remove its lookup key, then run stripe_sync_catalog "
                "again"
            )
        ]
    return [_connect(price, remote["id"], f"connected {remote['id']}, found by its lookup key")]


def catalog_sync(*, report: Report | None = None) -> list[Finding]:
    """Connect every catalog price to Stripe (``price_sync``); each finding is also passed
    to ``report`` as soon as it is made."""
    findings: list[Finding] = []
    for price in catalog_prices():
        for finding in price_sync(price):
            findings.append(finding)
            if report is not None:
                report(finding)
    if not findings and report is not None:
        report(_ok("the catalog has no active price to sell"))
    return findings


# stripe_check ------------------------------------------------------------------------------


def webhook_url() -> str:
    """Where Stripe must send this installation's events."""
    return settings.HANDOFF_SITE_URL.rstrip("/") + reverse("stripe_webhook")


def _event_list(types: Iterable[str]) -> str:
    return ", ".join(sorted(types))


def webhook_findings() -> list[Finding]:
    url = webhook_url()
    endpoints = list(client.webhook_endpoints_list())
    mine = [e for e in endpoints if e.get("url") == url]
    if not mine:
        others = ", ".join(sorted(str(e.get("url")) for e in endpoints)) or "none"
        return [
            _problem(
                f"no webhook endpoint sends to {url} (endpoints: {others}). Create one with "
                f"API version {client.API_VERSION} and the events {_event_list(HANDLED_TYPES)}"
            )
        ]
    findings = []
    if len(mine) > 1:
        findings.append(
            _problem(
                f"{len(mine)} webhook endpoints send to {url}: each event would arrive "
                f"{len(mine)} times, signed with different secrets. Keep one"
            )
        )
    for endpoint in mine:
        name = f"webhook endpoint {endpoint.get('id')} ({url})"
        problems = []
        if endpoint.get("status") != "enabled":
            problems.append(f"is {endpoint.get('status')}: enable it")
        version = endpoint.get("api_version")
        if version != client.API_VERSION:
            problems.append(
                f"uses API version {version or 'of the account (none set)'}: create the "
                f"endpoint with {client.API_VERSION} (an endpoint's version cannot be changed; "
                "put the new endpoint's signing secret in STRIPE_WEBHOOK_SECRET)"
            )
        enabled = set(endpoint.get("enabled_events") or [])
        missing = set() if "*" in enabled else set(HANDLED_TYPES) - enabled
        if missing:
            problems.append(f"does not send {_event_list(missing)}: add them")
        findings += [_problem(f"{name} {problem}") for problem in problems]
        if not problems:
            findings.append(
                _ok(
                    f"{name} is enabled, uses API version {client.API_VERSION} and sends the "
                    f"{len(HANDLED_TYPES)} event types Handoff handles"
                )
            )
    return findings


def price_findings() -> list[Finding]:
    findings = []
    for price in catalog_prices():
        label = _label(price)
        if not price.stripe_price_id:
            findings.append(
                _problem(f"{label} is not connected to a Stripe price: run stripe_sync_catalog")
            )
            continue
        remote = client.price_retrieve(price.stripe_price_id)
        if remote is None:
            findings.append(_problem(f"{label}: Stripe has no price {price.stripe_price_id}"))
            continue
        problems = price_disagreements(remote, price)
        if problems:
            findings.append(
                _problem(f"{label}: its Stripe price {remote['id']} {'; '.join(problems)}")
            )
        else:
            findings.append(_ok(f"{label} is sold by {remote['id']}, which agrees"))
    if not findings:
        findings.append(_problem("the catalog has no active price: nothing can be bought"))
    return findings


def portal_findings() -> list[Finding]:
    """The Customer Portal is configured (Stripe refuses portal sessions until its default
    configuration is saved) and lets customers do what the billing page sends them there
    for: update the card and see invoices."""
    default = next((c for c in client.portal_configurations_list() if c.get("is_default")), None)
    if default is None:
        return [
            _problem(
                "the Customer Portal is not configured: save its settings in the Stripe "
                "Dashboard (Settings → Billing → Customer portal)"
            )
        ]
    features = default.get("features") or {}
    problems = []
    if not (features.get("payment_method_update") or {}).get("enabled"):
        problems.append("updating the payment method")
    if not (features.get("invoice_history") or {}).get("enabled"):
        problems.append("the invoice history")
    if problems:
        return [
            _problem(
                f"the Customer Portal ({default.get('id')}) does not offer "
                f"{' or '.join(problems)}: turn it on in its settings"
            )
        ]
    return [_ok(f"the Customer Portal is configured ({default.get('id')})")]


def golive_check(*, report: Report | None = None) -> list[Finding]:
    """Everything ``stripe_check`` verifies: the webhook endpoint, the catalog's prices, the
    Customer Portal."""
    findings: list[Finding] = []
    for part in (webhook_findings, price_findings, portal_findings):
        for finding in part():
            findings.append(finding)
            if report is not None:
                report(finding)
    return findings
