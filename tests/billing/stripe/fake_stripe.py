"""A fake Stripe API on 127.0.0.1: the edge of the world for the Stripe client.

The real ``stripe`` library talks HTTP to it (``STRIPE_API_BASE``), so every layer of the
project runs for real; only Stripe's servers are replaced. It serves what a test (or the
benchmark) puts in it — subscriptions, events, products, prices, webhook endpoints, Customer
Portal configurations — in Stripe's shapes (built from Stripe's published example objects,
``fixtures/``), answers every operation the gateway and the go-live commands use (Checkout
sessions, subscription updates, invoice previews, portal sessions, the catalog), records
every request, and can fail the next requests to a path (with ``Stripe-Should-Retry:
false``, as Stripe marks errors not worth an immediate retry, so the failure reaches the
project instead of being retried inside the library).

Every request is checked as Stripe would check it, against the parameter types the
installed SDK declares for the operation (``stripe_params``): its form-encoded body (or
query string) is decoded back into nested dicts and validated key by key, recursively; an
unknown key, a missing required one or a value of the wrong type is a *violation*. A
request in another API version than the SDK's (the ``Stripe-Version`` header) or to an
operation the fake does not know is one too. A violation is answered 400 as Stripe answers
it, and kept in ``violations``: the suite fails any test that leaves one (``conftest``), so
a malformed request fails a test rather than a customer.

Amounts the fake computes are simpler than Stripe's: an invoice preview charges the
difference between the new and the current items for a whole period, without proration.
"""

import copy
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import stripe
from stripe import params as stripe_params
from stripe.params import billing_portal, checkout

from tests.billing.stripe.stripe_params import decode_form, params_problems

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]  # the query string, list indexes dropped: ``types`` → [...]
    params: dict[str, Any] = field(default_factory=dict)  # decoded, nested
    stripe_version: str | None = None


@dataclass
class _Failure:
    path: str
    status: int
    remaining: int


class _Answer(Exception):
    """Stop handling a request and answer it with ``status`` and ``body``."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _invalid(message: str, *, code: str | None = None, param: str | None = None) -> _Answer:
    error: dict[str, Any] = {"type": "invalid_request_error", "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return _Answer(404 if code == "resource_missing" else 400, {"error": error})


def _missing(kind: str, object_id: str, param: str | None = None) -> _Answer:
    return _invalid(f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: str
    params: type  # the SDK's TypedDict of the operation's parameters
    serve: str  # the FakeStripe method that answers it


ROUTES = (
    _Route("GET", r"/v1/subscriptions", stripe_params.SubscriptionListParams, "_subscriptions"),
    _Route(
        "GET",
        r"/v1/subscriptions/(?P<id>[^/]+)",
        stripe_params.SubscriptionRetrieveParams,
        "_subscription",
    ),
    _Route(
        "POST",
        r"/v1/subscriptions/(?P<id>[^/]+)",
        stripe_params.SubscriptionUpdateParams,
        "_subscription_update",
    ),
    _Route("GET", r"/v1/events", stripe_params.EventListParams, "_events"),
    _Route("POST", r"/v1/checkout/sessions", checkout.SessionCreateParams, "_checkout_create"),
    _Route(
        "POST",
        r"/v1/invoices/create_preview",
        stripe_params.InvoiceCreatePreviewParams,
        "_invoice_preview",
    ),
    _Route("POST", r"/v1/billing_portal/sessions", billing_portal.SessionCreateParams, "_portal"),
    _Route(
        "GET",
        r"/v1/billing_portal/configurations",
        billing_portal.ConfigurationListParams,
        "_portal_configurations",
    ),
    _Route("GET", r"/v1/products/(?P<id>[^/]+)", stripe_params.ProductRetrieveParams, "_product"),
    _Route("POST", r"/v1/products", stripe_params.ProductCreateParams, "_product_create"),
    _Route("GET", r"/v1/prices", stripe_params.PriceListParams, "_prices"),
    _Route("GET", r"/v1/prices/(?P<id>[^/]+)", stripe_params.PriceRetrieveParams, "_price"),
    _Route("POST", r"/v1/prices", stripe_params.PriceCreateParams, "_price_create"),
    _Route("GET", r"/v1/webhook_endpoints", stripe_params.WebhookEndpointListParams, "_endpoints"),
)


@dataclass
class FakeStripe:
    """What Stripe holds: ``subscriptions``, ``prices``, ``products`` and
    ``checkout_sessions`` by id; ``events`` (any order), ``webhook_endpoints`` and
    ``portal_configurations``. ``api_version``: the version requests must ask for (the one
    the installed SDK's parameter types describe)."""

    api_version: str = stripe.api_version
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    prices: dict[str, dict[str, Any]] = field(default_factory=dict)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    checkout_sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    webhook_endpoints: list[dict[str, Any]] = field(default_factory=list)
    portal_configurations: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    _failures: list[_Failure] = field(default_factory=list)
    _after_answer: list[tuple[str, Callable[[], object]]] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # Control -------------------------------------------------------------------------------

    def start(self) -> "FakeStripe":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._handle(self)

            def do_POST(self) -> None:
                fake._handle(self)

            def do_DELETE(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail_next(self, path: str, *, status: int = 500, times: int = 1) -> None:
        """Answer the next ``times`` requests to ``path`` with ``status``."""
        with self._lock:
            self._failures.append(_Failure(path, status, times))

    def after_next_answer(self, path: str, call: Callable[[], object]) -> None:
        """Run ``call`` once the next request to ``path`` is answered, before the answer is
        sent: what happens at Stripe (and its webhooks) while an answer is on its way."""
        with self._lock:
            self._after_answer.append((path, call))

    def requests_to(self, path: str, method: str | None = None) -> list[Request]:
        with self._lock:
            return [
                r
                for r in self.requests
                if r.path == path and (method is None or r.method == method)
            ]

    def take_violations(self) -> list[str]:
        """The violations so far, forgotten (for a test that sends a malformed request on
        purpose)."""
        with self._lock:
            taken, self.violations = self.violations, []
            return taken

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_F{next(self._ids):06d}"

    # What Stripe holds ---------------------------------------------------------------------

    def put_subscription(self, subscription: dict[str, Any]) -> None:
        with self._lock:
            self.subscriptions[subscription["id"]] = json.loads(json.dumps(subscription))

    def put_event(self, event: dict[str, Any]) -> None:
        with self._lock:
            self.events.append(json.loads(json.dumps(event)))

    def put_product(self, product_id: str, *, name: str, active: bool = True) -> dict[str, Any]:
        product = _fixture("product")
        product.update(
            id=product_id,
            name=name,
            active=active,
            default_price=None,
            description=None,
            metadata={},
            package_dimensions=None,
            type="service",
            created=int(time.time()),
            updated=int(time.time()),
        )
        with self._lock:
            self.products[product_id] = product
        return copy.deepcopy(product)

    def put_price(
        self,
        price_id: str | None = None,
        *,
        unit_amount: int,
        currency: str = "usd",
        interval: str | None = "month",
        interval_count: int = 1,
        usage_type: str = "licensed",
        product: str = "prod_fake",
        lookup_key: str | None = None,
        active: bool = True,
        nickname: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """A price as Stripe holds it (``interval=None``: a one-time price). Its product is
        created when Stripe has none of that id."""
        price = _fixture("price")
        price.update(
            id=price_id or self._new_id("price"),
            active=active,
            currency=currency,
            unit_amount=unit_amount,
            unit_amount_decimal=str(unit_amount),
            lookup_key=lookup_key,
            nickname=nickname,
            metadata=metadata or {},
            product=product,
            custom_unit_amount=None,
            transform_quantity=None,
            created=int(time.time()),
            type="recurring" if interval else "one_time",
            recurring=(
                {
                    "interval": interval,
                    "interval_count": interval_count,
                    "meter": None,
                    "trial_period_days": None,
                    "usage_type": usage_type,
                }
                if interval
                else None
            ),
        )
        with self._lock:
            if product not in self.products:
                self.put_product(product, name=product)
            self.prices[price["id"]] = price
        return copy.deepcopy(price)

    def put_webhook_endpoint(
        self,
        url: str,
        *,
        api_version: str | None,
        enabled_events: list[str],
        status: str = "enabled",
    ) -> dict[str, Any]:
        endpoint = _fixture("webhook_endpoint")
        endpoint.update(
            id=self._new_id("we"),
            url=url,
            api_version=api_version,
            enabled_events=list(enabled_events),
            status=status,
            description=None,
        )
        with self._lock:
            self.webhook_endpoints.append(endpoint)
        return copy.deepcopy(endpoint)

    def put_portal_configuration(
        self,
        *,
        is_default: bool = True,
        active: bool = True,
        payment_method_update: bool = True,
        invoice_history: bool = True,
    ) -> dict[str, Any]:
        """A Customer Portal configuration, as saving the portal's settings in the
        Dashboard creates the default one."""
        configuration = _fixture("billing_portal_configuration")
        configuration.update(id=self._new_id("bpc"), is_default=is_default, active=active)
        features = configuration["features"]
        features["payment_method_update"]["enabled"] = payment_method_update
        features["invoice_history"]["enabled"] = invoice_history
        with self._lock:
            self.portal_configurations.append(configuration)
        return copy.deepcopy(configuration)

    # Serving -------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode() if length else ""
        query_pairs = parse_qsl(url.query, keep_blank_values=True)
        query: dict[str, list[str]] = {}
        for key, value in query_pairs:
            query.setdefault(re.sub(r"\[\d*\]$", "", key), []).append(value)
        pairs = (
            query_pairs
            if handler.command in ("GET", "DELETE")
            else [
                *query_pairs,
                *parse_qsl(body, keep_blank_values=True),
            ]
        )
        params, problems = decode_form(pairs)
        version = handler.headers.get("Stripe-Version")
        request = Request(handler.command, url.path, query, params, version)
        route, match = self._route_of(handler.command, url.path)
        if route is None:
            problems.append(f"{handler.command} {url.path}: no such Stripe operation")
        else:
            problems += params_problems(params, route.params)
        if version != self.api_version:
            problems.append(f"Stripe-Version is {version!r}, not {self.api_version}")
        with self._lock:
            self.requests.append(request)
            self.violations += [f"{handler.command} {url.path}: {p}" for p in problems]
            failure = next((f for f in self._failures if f.path == url.path and f.remaining), None)
            if failure is not None:
                failure.remaining -= 1
        if failure is not None:
            error = (
                {
                    "type": "invalid_request_error",
                    "code": "rate_limit",
                    "message": "Too many requests hit the API too quickly.",
                }
                if failure.status == 429
                else {"type": "api_error", "message": "Stripe is having a bad moment."}
            )
            self._send(handler, failure.status, {"error": error})
            return
        if problems:
            self._send(handler, 400 if route else 404, _invalid("; ".join(problems)).body)
            return
        serve: Callable[..., dict[str, Any]] = getattr(self, route.serve)
        try:
            with self._lock:
                answer = copy.deepcopy(serve(params, **match.groupdict()))
                hooks = [hook for hook in self._after_answer if hook[0] == url.path]
                for hook in hooks:
                    self._after_answer.remove(hook)
            for _, hook_call in hooks:
                hook_call()  # Stripe changed after it answered, before the answer arrived
            status = 200
        except _Answer as refusal:
            status, answer = refusal.status, refusal.body
        self._send(handler, status, answer)

    @staticmethod
    def _route_of(method: str, path: str):
        for route in ROUTES:
            if route.method == method and (match := re.fullmatch(route.pattern, path)):
                return route, match
        return None, None

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Request-Id", "req_fake")
        if status >= 500:
            handler.send_header("Stripe-Should-Retry", "false")
        handler.end_headers()
        handler.wfile.write(data)

    # Operations (called with the lock held) ------------------------------------------------

    def _subscriptions(self, params: dict[str, Any]) -> dict:
        return _page(list(self.subscriptions.values()), params, "/v1/subscriptions")

    def _subscription(self, params: dict[str, Any], id: str) -> dict:
        if id not in self.subscriptions:
            raise _missing("subscription", id)
        return self.subscriptions[id]

    def _price_of(self, price_id: str, param: str) -> dict[str, Any]:
        if price_id not in self.prices:
            raise _missing("price", price_id, param)
        return self.prices[price_id]

    def _items_after(self, subscription: dict, items: list[dict], param: str) -> list[dict]:
        """The subscription's items once ``items`` (each naming an existing item) apply."""
        after = copy.deepcopy(subscription["items"]["data"])
        by_id = {item["id"]: item for item in after}
        for index, change in enumerate(items):
            item = by_id.get(change.get("id", ""))
            if item is None:
                raise _invalid(
                    f"Invalid subscription item: {change.get('id')!r}",
                    param=f"{param}[{index}][id]",
                )
            if "price" in change:
                price = self._price_of(change["price"], f"{param}[{index}][price]")
                item["price"] = copy.deepcopy(price)
                item["plan"].update(
                    id=price["id"],
                    amount=price["unit_amount"],
                    currency=price["currency"],
                    interval=(price["recurring"] or {}).get("interval"),
                )
            if "quantity" in change:
                item["quantity"] = int(change["quantity"])
        return after

    def _subscription_update(self, params: dict[str, Any], id: str) -> dict:
        subscription = self._subscription(params, id)
        if "items" in params:
            subscription["items"]["data"] = self._items_after(
                subscription, params["items"], "items"
            )
        if "cancel_at_period_end" in params:
            cancel = params["cancel_at_period_end"] == "true"
            subscription["cancel_at_period_end"] = cancel
            period_end = subscription["items"]["data"][0]["current_period_end"]
            subscription["cancel_at"] = period_end if cancel else None
        if "cancellation_details" in params:
            details = params["cancellation_details"]
            subscription["cancellation_details"] = {
                "comment": details.get("comment") or None,
                "feedback": details.get("feedback") or None,
                "reason": "cancellation_requested",
            }
        if "metadata" in params:
            subscription["metadata"] = {**subscription["metadata"], **params["metadata"]}
        return subscription

    def _events(self, params: dict[str, Any]) -> dict:
        created = params.get("created") or {}
        gte = int(created.get("gte", 0)) if isinstance(created, dict) else int(created)
        types = set(params.get("types") or [])
        matching = [
            e for e in self.events if e["created"] >= gte and (not types or e["type"] in types)
        ]
        matching.sort(key=lambda e: (e["created"], e["id"]), reverse=True)  # newest first
        return _page(matching, params, "/v1/events")

    def _checkout_create(self, params: dict[str, Any]) -> dict:
        for index, line in enumerate(params.get("line_items") or []):
            self._price_of(line.get("price", ""), f"line_items[{index}][price]")
        session = _fixture("checkout_session")
        session_id = self._new_id("cs_test")
        session.update(
            id=session_id,
            mode=params.get("mode"),
            status="open",
            payment_status="unpaid",
            url=f"https://checkout.stripe.com/c/pay/{session_id}",
            success_url=params.get("success_url"),
            cancel_url=params.get("cancel_url"),
            client_reference_id=params.get("client_reference_id"),
            customer=params.get("customer"),
            customer_email=params.get("customer_email"),
            metadata=params.get("metadata") or {},
            subscription=None,
            payment_intent=None,
            created=int(time.time()),
            expires_at=int(time.time()) + 86_400,
        )
        self.checkout_sessions[session_id] = session
        return session

    def _invoice_preview(self, params: dict[str, Any]) -> dict:
        subscription = self._subscription(params, params.get("subscription", ""))
        if params.get("customer") != subscription["customer"]:
            raise _invalid("The subscription belongs to another customer.", param="customer")
        details = params.get("subscription_details") or {}
        after = self._items_after(
            subscription, details.get("items") or [], "subscription_details[items]"
        )

        def total(items: list[dict]) -> int:
            return sum(item["price"]["unit_amount"] * item["quantity"] for item in items)

        period_end = after[0]["current_period_end"]
        invoice = _fixture("invoice")
        invoice.update(
            id=f"upcoming_{self._new_id('in')}",
            customer=subscription["customer"],
            currency=after[0]["price"]["currency"],
            amount_due=max(0, total(after) - total(subscription["items"]["data"])),
            status="draft",
            period_start=after[0]["current_period_start"],
            period_end=period_end,
            next_payment_attempt=period_end,
        )
        return invoice

    def _portal(self, params: dict[str, Any]) -> dict:
        if not any(c["is_default"] and c["active"] for c in self.portal_configurations):
            raise _invalid(
                "No configuration provided and your test mode default configuration has not "
                "been created. Provide a configuration or create your default by saving your "
                "customer portal settings in test mode at "
                "https://dashboard.stripe.com/test/settings/billing/portal."
            )
        session = _fixture("billing_portal_session")
        session_id = self._new_id("bps")
        session.update(
            id=session_id,
            customer=params.get("customer"),
            return_url=params.get("return_url"),
            url=f"https://billing.stripe.com/p/session/test_{session_id}",
            flow=None,
            configuration=next(c["id"] for c in self.portal_configurations if c["is_default"]),
        )
        return session

    def _portal_configurations(self, params: dict[str, Any]) -> dict:
        found = [
            c
            for c in self.portal_configurations
            if ("active" not in params or str(c["active"]).lower() == params["active"])
            and ("is_default" not in params or str(c["is_default"]).lower() == params["is_default"])
        ]
        return _page(found, params, "/v1/billing_portal/configurations")

    def _product(self, params: dict[str, Any], id: str) -> dict:
        if id not in self.products:
            raise _missing("product", id)
        return self.products[id]

    def _product_create(self, params: dict[str, Any]) -> dict:
        product_id = params.get("id") or self._new_id("prod")
        if product_id in self.products:
            raise _invalid(f"Product already exists: {product_id}", code="resource_already_exists")
        self.put_product(product_id, name=params["name"])
        product = self.products[product_id]
        product.update(description=params.get("description"), metadata=params.get("metadata") or {})
        return product

    def _endpoints(self, params: dict[str, Any]) -> dict:
        return _page(self.webhook_endpoints, params, "/v1/webhook_endpoints")

    def _prices(self, params: dict[str, Any]) -> dict:
        keys = set(params.get("lookup_keys") or [])
        found = [
            p
            for p in self.prices.values()
            if (not keys or p["lookup_key"] in keys)
            and ("active" not in params or str(p["active"]).lower() == params["active"])
            and ("product" not in params or p["product"] == params["product"])
        ]
        return _page(found, params, "/v1/prices")

    def _price(self, params: dict[str, Any], id: str) -> dict:
        return self._price_of(id, "id")

    def _price_create(self, params: dict[str, Any]) -> dict:
        product = params.get("product", "")
        if product not in self.products:
            raise _missing("product", product, "product")
        key = params.get("lookup_key")
        holder = next((p for p in self.prices.values() if key and p["lookup_key"] == key), None)
        if holder is not None:
            if params.get("transfer_lookup_key") != "true":
                raise _invalid(
                    f"A price (`{holder['id']}`) already uses that lookup key.",
                    param="lookup_key",
                )
            holder["lookup_key"] = None
        recurring = params.get("recurring")
        price = self.put_price(
            unit_amount=int(params["unit_amount"]),
            currency=params["currency"],
            interval=recurring["interval"] if recurring else None,
            interval_count=int((recurring or {}).get("interval_count", 1)),
            usage_type=(recurring or {}).get("usage_type", "licensed"),
            product=product,
            lookup_key=key,
            active=params.get("active", "true") == "true",
            nickname=params.get("nickname"),
            metadata=params.get("metadata"),
        )
        return self.prices[price["id"]]


def _page(items: list[dict], params: dict[str, Any], url: str) -> dict:
    limit = int(params.get("limit") or 10)
    after = params.get("starting_after")
    if after is not None:
        ids = [item["id"] for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    return {
        "object": "list",
        "data": items[:limit],
        "has_more": len(items) > limit,
        "url": url,
    }
